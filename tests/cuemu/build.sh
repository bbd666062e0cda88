#!/bin/sh
# build.sh [OUTDIR]: builds the TTT kernels and impls against the CPU model (cuemu) and the test
# ttt_emu_test; run it from the repo root: tests/cuemu/build.sh && build/cuemu/ttt_emu_test
set -e
OUT=${1:-build/cuemu}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
mkdir -p "$OUT"
CXX="g++ -std=c++17 -O1 -g -Wall -Wno-unused-variable -Wno-unused-function -Wno-unknown-pragmas -Wno-class-memaccess -DSB_CUEMU -DSB_HAVE_CUDA -I$CUDA_HOME/include -Ikernels -Ilayers"
OBJS=""
for src in ttt_linear_dual ttt_mlp_dual ttt_decode ttt_glue ttt_cuda; do
    python3 tests/cuemu/prep.py kernels/$src.cu "$OUT/$src.cpp"
    $CXX -include tests/cuemu/cuemu.h -c "$OUT/$src.cpp" -o "$OUT/$src.o"
    OBJS="$OBJS $OUT/$src.o"
done
$CXX -c tests/cuemu/cuemu.cpp -o "$OUT/cuemu.o"
$CXX -include tests/cuemu/cuemu.h -c tests/cuemu/emu_host.cpp -o "$OUT/emu_host.o"
$CXX -include tests/cuemu/cuemu.h -c tests/cuemu/ttt_emu_test.cpp -o "$OUT/ttt_emu_test.o"
gcc -std=c11 -D_GNU_SOURCE -O1 -g -c layers/core.c -o "$OUT/core.o"
gcc -std=c11 -D_GNU_SOURCE -O1 -g -c layers/npy.c -o "$OUT/npy.o"
g++ -o "$OUT/ttt_emu_test" $OBJS "$OUT/cuemu.o" "$OUT/emu_host.o" "$OUT/ttt_emu_test.o" "$OUT/core.o" "$OUT/npy.o" \
    -L$CUDA_HOME/lib64 -Wl,-rpath,$CUDA_HOME/lib64 -lcudart -lm
echo "built $OUT/ttt_emu_test"
