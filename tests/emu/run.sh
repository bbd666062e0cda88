#!/bin/sh
# tests/emu/run.sh: builds seqbench's library with the Mamba CUDA kernels compiled for the CPU
# emulation of cuda_emu.h (no GPU, no nvcc needed) and runs the Criterion tests that compare the
# cuda impls with the ref backend (backends/*, decode/*; golden cases: --report). A logic check of indexing,
# barriers, cp.async waits, strides and the impl's flow; says nothing about speed or about the
# real cuBLAS. Usage: tests/emu/run.sh [criterion args...]   (from the repo root; objects in build-emu/)
#                    tests/emu/run.sh --report [D=64] [B T steps]...  (error table: impl x level x shape)
# EMU_FLAGS adds compiler flags (e.g. -fsanitize=address,undefined), BUILD another objects folder.
set -eu
B=${BUILD:-build-emu}
CC=${CC:-gcc}
CXX=${CXX:-g++}
FLAGS="${EMU_FLAGS:-} -g -O1 -fopenmp -DSB_HAVE_CUDA -Wall -Wno-unused-parameter -Wno-unknown-pragmas -Wno-format-truncation"
mkdir -p "$B/emu" "$B/lib" "$B/tests"
objs=""
for f in layers/*.c bench/*.c kernels/*.c; do
    case "$f" in bench/main.c|kernels/cuda_stub.c) continue ;; esac
    o="$B/lib/$(echo "$f" | tr / _).o"
    $CC -std=c11 -D_GNU_SOURCE $FLAGS $(pkg-config --cflags openblas 2>/dev/null) -c "$f" -o "$o"
    objs="$objs $o"
done
for f in kernels/mamba_*.cu; do
    n=$(basename "$f" .cu)
    # k<<<cfg>>>(args);  ->  emu_launch(cfg, "k", [&]() { k(args); });
    perl -pe 's/([A-Za-z_]\w*(?:<[^<>]*>)?)<<<(.*?)>>>\((.*?)\);/emu_launch($2, "$1", [&]() { $1($3); });/g' "$f" > "$B/emu/$n.cc"
    $CXX -std=c++17 -DSB_EMU $FLAGS -Itests/emu/include -Ikernels -c "$B/emu/$n.cc" -o "$B/emu/$n.o"
    objs="$objs $B/emu/$n.o"
done
$CXX -std=c++17 -DSB_EMU $FLAGS -Itests/emu/include -Ikernels -c tests/emu/cuda_emu.cc -o "$B/emu/cuda_emu.o"
tobjs=""
for f in tests/*.c; do
    o="$B/tests/$(basename "$f" .c).o"
    $CC -std=c11 -D_GNU_SOURCE $FLAGS -c "$f" -o "$o"
    tobjs="$tobjs $o"
done
$CXX $FLAGS -o "$B/run_tests" $tobjs $objs "$B/emu/cuda_emu.o" -lcriterion $(pkg-config --libs openblas 2>/dev/null || echo -lopenblas) \
    -lcsv $(pkg-config --libs hwloc 2>/dev/null || echo -lhwloc) -lm -fopenmp
$CC -std=c11 -D_GNU_SOURCE $FLAGS -c tests/emu/mamba_report.c -o "$B/emu/mamba_report.o"
$CXX $FLAGS -o "$B/mamba_report" "$B/emu/mamba_report.o" "$B/tests/test_util.o" $objs "$B/emu/cuda_emu.o" \
    $(pkg-config --libs openblas 2>/dev/null || echo -lopenblas) -lcsv $(pkg-config --libs hwloc 2>/dev/null || echo -lhwloc) -lm -fopenmp
if [ "${1:-}" = "--report" ]; then
    shift
    exec "$B/mamba_report" "$@"
fi
if [ $# -eq 0 ]; then
    set -- --filter '@(backends|decode|mamba_cuda_host)/*' --jobs 2
fi
exec "$B/run_tests" "$@"
