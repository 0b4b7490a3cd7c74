#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# atomics.sh - no raw __atomic_* or __sync_* builtins outside the wrappers.
#
# usage: atomics.sh <src dir> <include dir>
# All atomics go through the wrappers in files named atomic.h (STYLE.md,
# Comments: memory ordering). Exit 0 if no other .c/.h file uses a builtin.
set -u

if [ $# -lt 1 ]; then
	echo "usage: atomics.sh <dir>..."
	exit 1
fi

files=0
hits=()
for dir in "$@"; do
	[ -d "$dir" ] || { echo "atomics: $dir is not a directory"; exit 1; }
	while IFS= read -r -d '' f; do
		files=$((files + 1))
		[ "${f##*/}" = atomic.h ] && continue
		while IFS= read -r line; do
			hits+=("$f:$line")
		done < <(grep -nE '__(atomic|sync)_[A-Za-z_]' "$f")
	done < <(find "$dir" -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)
done

if [ ${#hits[@]} -ne 0 ]; then
	echo "atomics: raw atomic builtins outside atomic.h (use the wrappers in src/util/atomic.h):"
	printf '  %s\n' "${hits[@]}"
	exit 1
fi
echo "atomics: $files file(s) in $* checked: no __atomic_*/__sync_* outside atomic.h"
exit 0
