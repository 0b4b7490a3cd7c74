#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# headers.sh - every public header compiles on its own, as C11 and as C++11.
#
# usage: headers.sh <include dir> <C compiler> <C++ compiler, or "none">
# For each include/hugemem.h and include/hugemem/*.h, compile a file that holds
# only `#include <that header>`. Exit 0 if all compile, 1 otherwise.
set -u

inc=${1:?usage: headers.sh <include dir> <cc> <cxx|none>}
cc=${2:-gcc}
cxx=${3:-g++}

if [ "$cxx" = none ] || ! command -v "$cxx" >/dev/null 2>&1; then
	echo "headers: no C++ compiler found: C++ check skipped"
	cxx=
fi

headers=()
[ -f "$inc/hugemem.h" ] && headers+=(hugemem.h)
for h in "$inc"/hugemem/*.h; do
	[ -f "$h" ] && headers+=("hugemem/${h##*/}")
done
if [ ${#headers[@]} -eq 0 ]; then
	echo "headers: no public header found under $inc"
	exit 1
fi

fail=0
checked=0
for h in "${headers[@]}"; do
	if ! out=$(printf '#include <%s>\n' "$h" |
		"$cc" -std=c11 -Wall -Wextra -Werror -pedantic -fsyntax-only -I "$inc" -x c - 2>&1); then
		echo "FAIL (C11): $h"
		echo "$out"
		fail=1
	fi
	checked=$((checked + 1))
	if [ -n "$cxx" ]; then
		if ! out=$(printf '#include <%s>\n' "$h" |
			"$cxx" -std=c++11 -Wall -Wextra -Werror -fsyntax-only -I "$inc" -x c++ - 2>&1); then
			echo "FAIL (C++11): $h"
			echo "$out"
			fail=1
		fi
	fi
done

langs="C11"
[ -n "$cxx" ] && langs="C11 and C++11"
if [ $fail -ne 0 ]; then
	echo "headers: some of $checked public headers do not compile alone ($langs)"
	exit 1
fi
echo "headers: $checked public headers compile alone as $langs: ${headers[*]}"
exit 0
