#!/bin/sh
# tests/cuemu/run.sh [criterion args...]: `make emu-test`. Builds the whole project in build-emu/ with
# every kernels/*.cu on cuemu, the CPU model of the GPU (tests/cuemu/nvcc stands in for nvcc,
# libcuemu.a for libcudart and libcublas: g++ only, no GPU, no CUDA toolkit), then runs on it
#   1. the project's Criterion tests: the host tests and the tables that compare every cuda impl with
#      ref (backends/*, decode/*, golden/*, model/*; attention_cuda/* and ttt_cuda/* at the benchmark
#      head dims; cuda_graph/*), every impl including the oracles (TTT's "dual_simple" runs the
#      version-1 prefill kernels) (the 1k-vs-8k error-growth test is left to the GPU: hours here);
#   2. the cuda tables again with SB_TTT_CHUNK_ROWS=32 (the TTT layer prefill in 16-token chunks);
#   3. the driver: `seqbench run --preset ci --backend cuda` (fill_state, decode steps as CUDA graphs);
# and lists the kernels that ran (and those that did not). Threads run in a random order from a
# seed printed here: CUEMU_SEED=n repeats a run, CUEMU_ORDER=fwd|rev fixes the order. Given criterion
# args (make emu-test TEST_ARGS="--filter 'decode/*'"), only step 1 runs, with them.
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
rm -f $CUEMU_LOG
touch $CUEMU_LOG
status=0
if [ $# -gt 0 ]; then
    $B/tests/run_tests "$@" || status=$?
else
    $B/tests/run_tests --jobs 2 --filter '!(backends/cuda_error_does_not_grow_with_context)' || status=1
    for env in SB_TTT_CHUNK_ROWS=32; do
        echo "cuemu: $env, the cuda tables again"
        env $env $B/tests/run_tests --jobs 2 --filter '@(backends/match_ref|decode/*|golden/*|model/*)' || status=1
    done
    echo "cuemu: seqbench run --preset ci --backend cuda"
    rm -f $B/emu-ci.csv
    if $B/seqbench run --preset ci --backend cuda --out $B/emu-ci.csv >$B/emu-ci.log 2>&1; then
        points=$(($(wc -l <$B/emu-ci.csv) - 1)) ok=$(grep -c ',ok,' $B/emu-ci.csv || true)
        echo "  $ok of $points points ok (status column of $B/emu-ci.csv), $(grep -c 'timed as CUDA graph replays' $B/emu-ci.csv) decode points timed as CUDA graph replays"
        [ "$ok" = "$points" ] || status=1
    else
        tail -n 5 $B/emu-ci.log
        status=1
    fi
fi
echo "cuemu: kernels run (number of test processes that ran each):"
sed 's/^void //; s/(.*)//; s/; [a-z_]* = [a-z_]*\]/]/' $CUEMU_LOG | sort | uniq -c | sed 's/^ */  /'
perl -0ne 'print "$1\n" while /__global__\s+void\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?(\w+)\s*\(/g' kernels/*.cu | sort -u |
    while read -r k; do grep -q "^void $k(" $CUEMU_LOG || echo "cuemu: not run: $k"; done
exit $status
