#!/bin/sh
# tests/emu/run_gpu.sh: the Mamba CUDA checks on a machine with a GPU, in one command (about a
# minute on an H100): builds seqbench with nvcc, runs the Criterion tables that compare every cuda
# impl with ref (backends, decode, golden), then tests/emu/mamba_report.c against the real
# library: its error table (impl x level x shape, the golden cases) and its timing table at the
# 1.4b shape. Usage (repo root): tests/emu/run_gpu.sh [T...]   (prefill contexts, default 1024 4096)
# SKIP_BUILD=1 uses build/ as it is (built elsewhere and carried, with LD_LIBRARY_PATH set for
# OpenBLAS, libcsv, hwloc, Criterion on a machine that lacks them).
set -u
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    make -j"$(nproc)" all build/tests/run_tests >/dev/null || exit 1
fi
SEQBENCH_BIN=build/seqbench build/tests/run_tests --filter '@(backends|decode|golden|mamba_cuda_host)/*' --jobs 4 2>&1 |
    grep -v "unknown layer\|^\[----\] *$" | tail -25
CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc)")")}
[ "${SKIP_BUILD:-0}" = 1 ] || gcc -std=c11 -D_GNU_SOURCE -O2 -fopenmp -DSB_HAVE_CUDA -o build/mamba_report tests/emu/mamba_report.c tests/test_util.c \
    build/libseqbench.a -L"$CUDA_HOME/lib64" -Wl,-rpath,"$CUDA_HOME/lib64" -lcublasLt -lcublas -lcudart -lstdc++ \
    $(pkg-config --libs openblas 2>/dev/null || echo -lopenblas) -lcsv -lhwloc -lm || exit 1
build/mamba_report
build/mamba_report D=128 2 45 3 1 300 2
build/mamba_report --time "$@"
