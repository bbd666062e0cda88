#!/usr/bin/env bash
# pack-device.sh: prepares .devcarry/ for a GPU session (scripts/gpu-run.sh runs there): the
# binaries built here with nvcc (sm_90a + sm_80) and the shared libraries the GPU box lacks
# (libcsv, hwloc, OpenBLAS, Criterion and what they pull in), compressed. glibc, libstdc++,
# libgcc and the CUDA libraries are the box's own.
# Environment: CARRY (default .devcarry) names the folder; PACK_MAKE_ARGS are passed to make
# (scripts/gpu-rehearse.sh packs a CPU-only build with PACK_MAKE_ARGS="NVCC=" CARRY=.devcarry-rehearse).
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=${CARRY:-.devcarry}
rm -f build/bench/meta.o # the fallback git sha is compiled into it
# shellcheck disable=SC2086
make ${PACK_MAKE_ARGS:-} -j"$(nproc)" all build/tests/run_tests >/dev/null
rm -rf "$CARRY"
mkdir -p "$CARRY/lib"
for b in build/seqbench build/tests/run_tests; do
  strip --strip-debug -o "$CARRY/$(basename "$b")" "$b"
done
ldd build/seqbench build/tests/run_tests | awk '/=>/ {print $3}' | sort -u |
  grep -vE '/(libc|libm|libdl|libpthread|librt|libresolv|ld-linux[^/]*|libstdc\+\+|libgcc_s)\.so|/cuda|libcu(blas|dart)' |
  while read -r lib; do cp -L "$lib" "$CARRY/lib/"; done
git rev-parse --short=12 HEAD >"$CARRY/git_sha"
tar cJf "$CARRY/libs.tar.xz" -C "$CARRY" lib
rm -rf "$CARRY/lib"
du -sh "$CARRY"/* | sed 's/^/pack-device: /'
