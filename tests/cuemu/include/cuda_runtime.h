/* cuda_runtime.h for cuemu: everything is in cuemu.h (force-included by tests/cuemu/nvcc). */
#include "../cuemu.h"
