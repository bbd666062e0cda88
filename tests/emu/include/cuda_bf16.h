/* cuda_bf16.h for tests/emu: the CPU emulation of the few CUDA pieces seqbench kernels use. */
#include "../cuda_emu.h"
