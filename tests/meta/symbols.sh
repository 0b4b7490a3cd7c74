#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# symbols.sh - the shared library exports only hm_* symbols.
#
# usage: symbols.sh <nm> <path to libhugemem.so>
# Lists `nm -D --defined-only`; besides hm_* only linker-made symbols
# (_init, _fini, _edata, _end, __bss_start, ...) and sanitizer bookkeeping
# (__asan_*, __odr_asan.*, ...) may appear. Exit 0 if so, 1 otherwise.
set -u

nm=${1:-nm}
lib=${2:?usage: symbols.sh <nm> <libhugemem.so>}

if [ ! -f "$lib" ]; then
	echo "symbols: $lib does not exist"
	exit 1
fi
if ! syms=$("$nm" -D --defined-only "$lib" 2>&1); then
	echo "symbols: $nm failed on $lib:"
	echo "$syms"
	exit 1
fi

# The last field of each line is the name (possibly with @VERSION).
names=$(printf '%s\n' "$syms" | awk 'NF >= 2 { print $NF }' | sed 's/@.*//' | sort -u)

is_linker_symbol() {
	case $1 in
	_init | _fini | _edata | _end | __bss_start | _DYNAMIC | _GLOBAL_OFFSET_TABLE_ | \
		__data_start | data_start | __dso_handle | _IO_stdin_used | __TMC_END__ | \
		__bss_start__ | __bss_end__ | __end__ | _bss_end__)
		return 0 ;;
	__asan_* | ___asan_* | __odr_asan* | __ubsan_* | __tsan_* | __sanitizer_* | __lsan_*)
		return 0 ;;
	esac
	return 1
}

exported=0
internal=0
bad=()
while IFS= read -r s; do
	[ -z "$s" ] && continue
	case $s in
	hm__*) internal=$((internal + 1)) exported=$((exported + 1)) ;;
	hm_*) exported=$((exported + 1)) ;;
	*) is_linker_symbol "$s" || bad+=("$s") ;;
	esac
done <<<"$names"

if [ ${#bad[@]} -ne 0 ]; then
	echo "symbols: ${lib##*/} exports ${#bad[@]} symbol(s) not starting with hm_:"
	printf '  %s\n' "${bad[@]}"
	echo "(make them static, or drop HM_API: the library is built with -fvisibility=hidden)"
	exit 1
fi
echo "symbols: ${lib##*/} exports $exported hm_* symbol(s) and nothing else" \
	"($internal of them hm__*, called by inline fast paths)"
exit 0
