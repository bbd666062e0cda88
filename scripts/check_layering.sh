#!/usr/bin/env bash
# check_layering.sh [ROOT]: the library's floors (docs/DESIGN.md "Layout") include only downward.
#   runtime (0) -> layers (1) -> kernels (2) -> model (3) -> registry (4) -> bench (5)
# Every #include "..." of a source or header in those folders is resolved against its own folder;
# the check fails (exit 1, one line per finding) when a file includes a file of a higher floor,
# or when the file-level include graph has a circle. tests/, dev/ and bench/speedgate/ sit on top
# and are not checked. ROOT defaults to the repository (tests plant an upward include in a copy).
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"
floors=(runtime layers kernels model registry bench)
rank() {
    local i
    for i in "${!floors[@]}"; do [ "${floors[$i]}" = "$1" ] && { echo "$i"; return; }; done
    echo -1
}
fail=0
edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
for dir in "${floors[@]}"; do
    [ -d "$dir" ] || continue
    r=$(rank "$dir")
    for f in "$dir"/*.c "$dir"/*.h "$dir"/*.cu "$dir"/*.cuh; do
        [ -f "$f" ] || continue
        while IFS= read -r inc; do
            target=$(realpath -m --relative-to=. "$dir/$inc")
            tdir=${target%%/*}
            [ "$tdir" = "$target" ] && tdir=.
            tr=$(rank "$tdir")
            echo "$f $target" >>"$edges"
            if [ "$tr" -lt 0 ]; then
                echo "layering: $f includes $inc, outside the floors (${floors[*]})"
                fail=1
            elif [ "$tr" -gt "$r" ]; then
                echo "layering: $f ($dir) includes $target ($tdir, a floor above)"
                fail=1
            fi
        done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
    done
done
if ! tsort "$edges" >/dev/null 2>&1; then
    echo "layering: the include graph has a circle:"
    tsort "$edges" 2>&1 >/dev/null | sed 's/^/  /'
    fail=1
fi
[ "$fail" = 0 ] && echo "layering: ok (${floors[*]}: every include points down, no circles)"
exit "$fail"
