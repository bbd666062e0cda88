#!/usr/bin/env bash
# cuda_tools.sh: finds or fetches cuobjdump + nvdisasm (the SASS disassemblers the static kernel
# gate reads, scripts/kernel_report.sh) and prints the directory that holds both.
#
# Slim CUDA toolkits (this project's build machine, many CI images) ship nvcc without them; PyPI
# has them as wheels (nvidia-cuda-cuobjdump, nvidia-cuda-nvdisasm: one static binary each, no
# root needed). Order: $CUDA_TOOLS_DIR if set; the toolkit's own bin/ next to nvcc; a copy fetched
# earlier into $BUILD/cuda-tools/bin; else `pip download` of the two wheels ($CUDA_TOOLS_VERSION,
# default 13.2.51, which reads nvcc 13.0's sm_90a cubins) unzipped into $BUILD/cuda-tools/bin.
# Idempotent (a second run finds the first one's copy). Offline or without pip: one line on stderr
# saying so and exit 1; callers then skip the SASS columns and say why.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${CUDA_TOOLS_VERSION:-13.2.51}
DIR=${BUILD:-build}/cuda-tools
PY=${PYTHON:-python3}

# Both tools present and runnable in $1 (cuobjdump -sass calls nvdisasm, found through PATH).
usable() { [ -x "$1/cuobjdump" ] && [ -x "$1/nvdisasm" ] && "$1/cuobjdump" --version >/dev/null 2>&1; }

if [ -n "${CUDA_TOOLS_DIR:-}" ]; then
  usable "$CUDA_TOOLS_DIR" || { echo "cuda-tools: CUDA_TOOLS_DIR=$CUDA_TOOLS_DIR lacks cuobjdump/nvdisasm" >&2; exit 1; }
  echo "$CUDA_TOOLS_DIR"; exit 0
fi
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
if [ -x "$NVCC" ] && usable "$(dirname "$NVCC")"; then dirname "$NVCC"; exit 0; fi
if usable "$DIR/bin"; then echo "$DIR/bin"; exit 0; fi

skip() { echo "cuda-tools: $1: no cuobjdump/nvdisasm, SASS counts skipped" >&2; exit 1; }
"$PY" -m pip --version >/dev/null 2>&1 || skip "no $PY -m pip to fetch the nvidia-cuda-cuobjdump wheels"
mkdir -p "$DIR/wheels" "$DIR/bin"
"$PY" -m pip download -q --no-deps --only-binary=:all: --timeout 20 --retries 1 -d "$DIR/wheels" \
    "nvidia-cuda-cuobjdump==$VERSION" "nvidia-cuda-nvdisasm==$VERSION" >"$DIR/pip.log" 2>&1 \
  || skip "pip download of nvidia-cuda-cuobjdump/nvdisasm $VERSION failed (offline?), see $DIR/pip.log"
for tool in cuobjdump nvdisasm; do
  whl=$(ls "$DIR"/wheels/nvidia_cuda_"$tool"-"$VERSION"-*.whl 2>/dev/null | head -n1)
  [ -n "$whl" ] || skip "no $tool wheel in $DIR/wheels"
  # a wheel is a zip; the binary sits in nvidia/cu<major>/bin/
  "$PY" - "$whl" "$tool" "$DIR/bin/$tool" <<'EOF' || skip "cannot unpack $whl"
import sys, zipfile
whl, tool, out = sys.argv[1:]
with zipfile.ZipFile(whl) as z:
    name = next(n for n in z.namelist() if n.endswith("/bin/" + tool))
    with open(out, "wb") as f:
        f.write(z.read(name))
EOF
  chmod +x "$DIR/bin/$tool"
done
usable "$DIR/bin" || skip "the fetched $DIR/bin/cuobjdump does not run on this machine"
echo "cuda-tools: cuobjdump + nvdisasm $VERSION from PyPI -> $DIR/bin" >&2
echo "$DIR/bin"
