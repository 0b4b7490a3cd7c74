#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# layers.sh - each src/<layer>/ includes only its own layer and lower ones.
#
# usage: layers.sh <src dir> <include dir>
# The order (DESIGN.md, Layers): util < mem < heap < ring < cache <
# {mempool, slab, bufpool}; the last three are peers and may not include
# each other. Headers at the root of src/ (internal.h) may be included by
# every layer, and may themselves include only util/; .c files at the root
# (init.c: the process set-up that wires all layers together) sit above every
# layer and may include any of them. A public header under
# include/ may include nothing from src/. Both "x/y.h" and <x/y.h> forms are
# checked, and ../ is resolved. Exit 0 if the rule holds, 1 otherwise.
set -u

src=${1:?usage: layers.sh <src dir> <include dir>}
inc=${2:?usage: layers.sh <src dir> <include dir>}

# Rank of each layer; the root of src/ ranks as util.
declare -A rank=([util]=0 [mem]=1 [heap]=2 [ring]=3 [cache]=4 [mempool]=5 [slab]=5 [bufpool]=5)
order="util < mem < heap < ring < cache < {mempool, slab, bufpool}"

# Root files of src/ (internal.h, ...), includable by everyone.
declare -A rootfile=()
for f in "$src"/*.h "$src"/*.c; do
	[ -f "$f" ] && rootfile[${f##*/}]=1
done

errors=()
files=0
incs=0

# Print "<line>:<path>" for each #include "..." or <...> of file $1.
list_includes() {
	grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<][^">]+[">]' "$1" |
		sed -E 's/^([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]*["<]([^">]+)[">].*/\1:\2/'
}

# Normalise an included path: drop ./ and leading ../ parts.
norm() {
	local p=$1
	while :; do
		case $p in
		./*) p=${p#./} ;;
		../*) p=${p#../} ;;
		*) break ;;
		esac
	done
	printf '%s\n' "$p"
}

# Check the source tree.
while IFS= read -r -d '' f; do
	files=$((files + 1))
	rel=${f#"$src"/}
	case $rel in
	*/*) layer=${rel%%/*} ;;
	*) layer=. ;;
	esac
	if [ "$layer" != . ] && [ -z "${rank[$layer]+x}" ]; then
		errors+=("$rel: src/$layer/ is not a known layer ($order): add it to tests/meta/layers.sh")
		continue
	fi
	while IFS= read -r entry; do
		[ -z "$entry" ] && continue
		line=${entry%%:*}
		path=$(norm "${entry#*:}")
		incs=$((incs + 1))
		case $path in
		*/*) target=${path%%/*} ;;
		*) continue ;; # same directory, a root file, or a system header
		esac
		[ -z "${rank[$target]+x}" ] && continue # hugemem/..., sys/..., linux/...
		if [ "$layer" = . ]; then
			case $rel in
			*.h) [ "$target" = util ] ||
				errors+=("$rel:$line: includes \"$path\": headers at the root of src/ may include only util/") ;;
			esac
			continue
		fi
		[ "$target" = "$layer" ] && continue
		if [ "${rank[$target]}" -ge "${rank[$layer]}" ]; then
			errors+=("$rel:$line: $layer includes \"$path\": $target is not below $layer ($order)")
		fi
	done < <(list_includes "$f")
done < <(find "$src" -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)

# Check the public headers: nothing from src/.
pub=0
while IFS= read -r -d '' f; do
	pub=$((pub + 1))
	rel=include/${f#"$inc"/}
	while IFS= read -r entry; do
		[ -z "$entry" ] && continue
		line=${entry%%:*}
		path=$(norm "${entry#*:}")
		first=${path%%/*}
		if [ -n "${rootfile[$path]+x}" ] && [ ! -e "$inc/$path" ] && [ ! -e "$(dirname "$f")/$path" ]; then
			errors+=("$rel:$line: public header includes \"$path\" from src/")
		elif [ "$path" != "$first" ] && [ -n "${rank[$first]+x}" ]; then
			errors+=("$rel:$line: public header includes \"$path\" from src/$first/")
		fi
	done < <(list_includes "$f")
done < <(find "$inc" -type f -name '*.h' -print0 | sort -z)

if [ ${#errors[@]} -ne 0 ]; then
	echo "layers: ${#errors[@]} violation(s) of the layer rule ($order):"
	printf '  %s\n' "${errors[@]}"
	exit 1
fi
echo "layers: $files file(s) in src/ ($incs includes) follow $order;" \
	"$pub public header(s) include nothing from src/"
exit 0
