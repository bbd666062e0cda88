#!/bin/sh
# project.sh [CU_FILES...]: builds the whole project (layers, kernels/*.c, bench, tests) with the
# listed CUDA files (default: kernels/ttt_*.cu) on the CPU model instead of nvcc + a GPU, into
# build-cuemu/, so that tests/test_backends.c, test_decode.c and test_golden.c run the cuda rows
# of those impls here: build-cuemu/run_tests --filter 'backends/*'. Run from the repo root, with
# the TTT layers (layers/ttt_*.c) present and the cuda impls registered. CUDA impls of other
# layers must build under cuemu too (list their .cu files) or the link fails on their symbols.
# kernels/cuda_common.cu is replaced by tests/cuemu/emu_host.cpp + emu_api.c.
set -e
O=build-cuemu
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
CUS=${*:-$(ls kernels/ttt_*.cu)}
mkdir -p $O/obj
CF="-std=c11 -D_GNU_SOURCE -O1 -g -fopenmp -DSB_HAVE_CUDA -I$CUDA_HOME/include $(pkg-config --cflags openblas)"
CXX="g++ -std=c++17 -O1 -g -DSB_CUEMU -DSB_HAVE_CUDA -I$CUDA_HOME/include -Ikernels -Ilayers -Wno-unknown-pragmas"
OBJS=""
for f in layers/*.c $(ls kernels/*.c | grep -v cuda_stub.c) $(ls bench/*.c | grep -v main.c) tests/cuemu/emu_api.c; do
    o=$O/obj/$(echo $f | tr / _).o
    gcc $CF -c $f -o $o
    OBJS="$OBJS $o"
done
for f in $CUS; do
    b=$(basename $f .cu)
    python3 tests/cuemu/prep.py $f $O/$b.cpp
    $CXX -include tests/cuemu/cuemu.h -c $O/$b.cpp -o $O/obj/$b.o
    OBJS="$OBJS $O/obj/$b.o"
done
$CXX -c tests/cuemu/cuemu.cpp -o $O/obj/cuemu.o
$CXX -include tests/cuemu/cuemu.h -c tests/cuemu/emu_host.cpp -o $O/obj/emu_host.o
ar rcs $O/libseqbench.a $OBJS $O/obj/cuemu.o $O/obj/emu_host.o
LIBS="$(pkg-config --libs openblas) -lcsv -lhwloc -lm -fopenmp -L$CUDA_HOME/lib64 -Wl,-rpath,$CUDA_HOME/lib64 -lcudart -lstdc++"
TOBJS=""
for f in tests/*.c; do
    o=$O/obj/$(echo $f | tr / _).o
    gcc $CF -c $f -o $o
    TOBJS="$TOBJS $o"
done
g++ -o $O/run_tests $TOBJS $O/libseqbench.a -lcriterion $LIBS
gcc $CF -c bench/main.c -o $O/obj/main.o
g++ -o $O/seqbench $O/obj/main.o $O/libseqbench.a $LIBS
echo "built $O/run_tests and $O/seqbench (CUDA = cuemu: $CUS)"
