#!/usr/bin/env bash
# pack-device.sh: prepares .devcarry/ for a GPU session (scripts/gpu-run.sh runs there): the
# binaries built here with nvcc (sm_90a + sm_80) and the shared libraries the GPU box lacks
# (libcsv, hwloc, OpenBLAS, Criterion and what they pull in), compressed. glibc, libstdc++,
# libgcc and the CUDA libraries are the box's own.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f build/bench/meta.o # the fallback git sha is compiled into it
make -j"$(nproc)" all build/tests/run_tests >/dev/null
rm -rf .devcarry
mkdir -p .devcarry/lib
for b in build/seqbench build/tests/run_tests; do
  strip --strip-debug -o ".devcarry/$(basename "$b")" "$b"
done
ldd build/seqbench build/tests/run_tests | awk '/=>/ {print $3}' | sort -u |
  grep -vE '/(libc|libm|libdl|libpthread|librt|libresolv|ld-linux[^/]*|libstdc\+\+|libgcc_s)\.so|/cuda|libcu(blas|dart)' |
  while read -r lib; do cp -L "$lib" .devcarry/lib/; done
git rev-parse --short=12 HEAD >.devcarry/git_sha
tar cJf .devcarry/libs.tar.xz -C .devcarry lib
rm -rf .devcarry/lib
du -sh .devcarry/* | sed 's/^/pack-device: /'
