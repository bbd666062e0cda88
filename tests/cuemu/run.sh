#!/bin/sh
# tests/cuemu/run.sh [criterion args...]: `make emu-test`. Builds the whole project in build-emu/ with
# every kernels/*.cu on cuemu, the CPU model of the GPU (tests/cuemu/nvcc stands in for nvcc,
# libcuemu.a for libcudart and libcublas: g++ only), then runs on it
#   1. the project's Criterion tests: host tests and the tables that compare every cuda impl with
#      ref (backends/*, decode/*, golden/*, model/*), TTT at its default kernel version;
#   2. `seqbench check --backend cuda` on the TTT layers with SB_TTT_VERSION=1 (the other prefill
#      kernels) and with 32-row chunks (the chunked layer prefill);
# and prints which kernels ran. Threads run in a random order, from a seed printed here
# (CUEMU_SEED=n to repeat a run, CUEMU_ORDER=fwd|rev for a fixed order). Given criterion args
# (e.g. --filter 'decode/*'), only step 1 runs, with them.
set -eu
B=build-emu
mkdir -p $B/cuemu
lib=$B/cuemu/libcuemu.a
for f in cuemu runtime; do
    if [ ! -f $B/cuemu/$f.o ] || [ tests/cuemu/$f.cpp -nt $B/cuemu/$f.o ] || [ tests/cuemu/cuemu.h -nt $B/cuemu/$f.o ]; then
        g++ -std=c++17 -O2 -g -Wall -c tests/cuemu/$f.cpp -o $B/cuemu/$f.o
        rm -f $lib
    fi
done
if [ ! -f $lib ]; then
    ar rcs $lib $B/cuemu/cuemu.o $B/cuemu/runtime.o
    rm -f $B/seqbench $B/tests/run_tests # relink: the Makefile does not know this library
fi
echo "cuemu: building the project in $B/ (tests/cuemu/nvcc for nvcc, libcuemu.a for libcudart and libcublas)"
make -s --no-print-directory -j2 BUILD=$B NVCC=tests/cuemu/nvcc CUDA_LIBS="$lib -lstdc++" $B/seqbench $B/tests/run_tests

export CUEMU_ORDER=${CUEMU_ORDER:-rand} CUEMU_SEED=${CUEMU_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
export CUEMU_LOG=$B/kernels.log SEQBENCH_BIN=$B/seqbench
echo "cuemu: thread order $CUEMU_ORDER, seed $CUEMU_SEED (CUEMU_SEED=$CUEMU_SEED make emu-test repeats this run)"
rm -f $CUEMU_LOG; touch $CUEMU_LOG
status=0
if [ $# -gt 0 ]; then
    $B/tests/run_tests "$@" || status=$?
else
    # (the 1k-vs-8k error-growth test would take hours on the model: it runs on the GPU only)
    $B/tests/run_tests --jobs 2 --filter '!(backends/cuda_error_does_not_grow_with_context)' || status=$?
    for env in SB_TTT_VERSION=1 SB_TTT_CHUNK_ROWS=32; do
        echo "cuemu: $env seqbench check --backend cuda --layers ttt_linear,ttt_mlp"
        env $env $B/seqbench check --backend cuda --layers ttt_linear,ttt_mlp | tail -n 1 || status=1
    done
fi
echo "cuemu: kernels run (test processes that ran each):"
sort $CUEMU_LOG | uniq -c | sed 's/^ */  /'
exit $status
