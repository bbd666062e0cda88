#!/usr/bin/env bash
# fetch_wheels.sh: run HERE (a machine with PyPI), not on the GPU box. Puts into <repo>/.whl/ (git-ignored)
# what the GPU box lacks for bench/peers/, as /work/.library/device/README.md describes: wheels for
# Python 3.12 / manylinux x86_64, --no-deps, one version of each, to be carried with `carry: [".whl"]`
# and installed there by run_peers.sh (pip install --no-index --no-deps --target /tmp/site .whl/*.whl).
#
#   fla-core $FLA_VERSION (default 0.6.0, the newest; Requires-Dist: einops, and with the cuda extra
#     torch>=2.7, triton>=3.3: the box has torch 2.11, triton 3.6, einops, packaging). It holds
#     fla.ops (chunk_ttt_linear, fused_chunk_ttt_linear; chunk_gated_delta_rule,
#     fused_recurrent_gated_delta_rule and their naive refs in fla.ops.gated_delta_rule). The umbrella wheel flash-linear-attention only
#     adds fla.layers/fla.models (which import transformers at `import fla`); the peers need neither, so
#     it is not carried: a transformers import error there could otherwise break `import fla.ops.ttt`.
#   mamba_ssm $MAMBA_VERSION (default 2.3.2.post1, the newest): PyPI has only an sdist (its CUDA
#     extension is built at install time). Its metadata step imports torch, so the sdist is downloaded
#     with --no-build-isolation from a throw-away venv that has setuptools/wheel/packaging and a
#     small stand-in `torch` module (MAMBA_SKIP_CUDA_BUILD=TRUE: nothing is compiled, nothing of torch
#     is used). Only the files the peers load are extracted into .whl/mamba_ssm_src/ (Apache-2.0,
#     LICENSE kept beside them), with no mamba_ssm/__init__.py: mamba_peer.py loads them by path.
#
# Prints the size of .whl and of what a device call carries (the limit is 64 MiB in all).
set -euo pipefail

FLA_VERSION=${FLA_VERSION:-0.6.0}
MAMBA_VERSION=${MAMBA_VERSION:-2.3.2.post1}
PY=${PYTHON:-python3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WHL=$ROOT/.whl
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

cd "$ROOT"
if ! git check-ignore -q .whl/x.whl 2>/dev/null; then
    echo "fetch_wheels: .whl/ is not git-ignored here; add '/.whl/' to .gitignore or .git/info/exclude first" >&2
    exit 2
fi
mkdir -p "$WHL"

# ---- fla-core: one version only (two versions of one package stop the whole install) ----------
rm -f "$WHL"/fla_core-*.whl "$WHL"/flash_linear_attention-*.whl
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$WHL" "fla-core==$FLA_VERSION"
echo "fla-core $FLA_VERSION: $(ls "$WHL"/fla_core-*.whl | xargs -n1 basename)"
unzip -p "$WHL"/fla_core-*.whl '*/METADATA' | grep '^Requires-Dist' | grep -v 'extra == "\(rocm\|xpu\|npu\|cpu\)"' \
    | sed 's/^/    /'

# ---- mamba_ssm sources --------------------------------------------------------------------------
"$PY" -m venv "$TMP/venv"
"$TMP/venv/bin/python" -m pip install -q 'setuptools<82' wheel packaging
mkdir -p "$TMP/stub/torch/utils"
cat > "$TMP/stub/torch/__init__.py" <<'EOF'
# Stand-in for torch, only for mamba_ssm's setup.py metadata step (MAMBA_SKIP_CUDA_BUILD=TRUE):
# every name setup.py may ask for exists and is None.
__version__ = "0.0"
class _Nothing:
    def __getattr__(self, name):
        return None
version = _C = _Nothing()
def __getattr__(name):
    return None
EOF
printf '' > "$TMP/stub/torch/utils/__init__.py"
cat > "$TMP/stub/torch/utils/cpp_extension.py" <<'EOF'
class BuildExtension:
    pass
CppExtension = CUDAExtension = BuildExtension
def __getattr__(name):  # CUDA_HOME, HIP_HOME, ... whatever a version imports
    return None
EOF
MAMBA_SKIP_CUDA_BUILD=TRUE PYTHONPATH="$TMP/stub" "$TMP/venv/bin/python" -m pip download -q \
    --no-binary :all: --no-deps --no-build-isolation -d "$TMP/sdist" "mamba_ssm==$MAMBA_VERSION"
SDIST=$(ls "$TMP"/sdist/mamba_ssm-*.tar.gz)
TOP=$(tar tzf "$SDIST" | awk -F/ 'NR == 1 {print $1}')
rm -rf "$WHL/mamba_ssm_src"
mkdir -p "$WHL/mamba_ssm_src"
# mamba2_peer.py: ssd_combined.py and what it imports (ssd_*.py, layernorm_gated.py, k_activations.py,
# and in newer releases mamba_ssm/utils/*.py).
tar xzf "$SDIST" -C "$WHL/mamba_ssm_src" --strip-components=1 --wildcards \
    "$TOP/LICENSE" \
    "$TOP/mamba_ssm/ops/selective_scan_interface.py" \
    "$TOP/mamba_ssm/ops/triton/selective_state_update.py" \
    "$TOP/mamba_ssm/ops/triton/softplus.py" \
    "$TOP/mamba_ssm/ops/triton/ssd_*.py" \
    "$TOP/mamba_ssm/ops/triton/layernorm_gated.py" \
    "$TOP/mamba_ssm/ops/triton/k_activations.py" \
    "$TOP/mamba_ssm/utils/*.py"
echo "$MAMBA_VERSION" > "$WHL/mamba_ssm_src/VERSION"
echo "mamba_ssm $MAMBA_VERSION (sdist $(basename "$SDIST")) -> .whl/mamba_ssm_src:"
(cd "$WHL/mamba_ssm_src" && find . -type f | sort | sed 's/^/    /')

# ---- sizes --------------------------------------------------------------------------------------
whl_bytes=$(du -sb "$WHL" | cut -f1)
tree_bytes=$(git ls-files -z -c -o --exclude-standard | xargs -0 -r stat -c %s 2>/dev/null | awk '{s+=$1} END {print s+0}')
shared_bytes=0
[ -d shared ] && shared_bytes=$(du -sb shared | cut -f1)
total=$((whl_bytes + tree_bytes))
printf '.whl: %.2f MiB; working tree that travels: %.2f MiB; together %.2f MiB of 64 MiB\n' \
    "$(echo "$whl_bytes / 1048576" | bc -l)" "$(echo "$tree_bytes / 1048576" | bc -l)" "$(echo "$total / 1048576" | bc -l)"
if [ "$total" -gt $((64 * 1048576)) ]; then
    echo "fetch_wheels: over the 64 MiB carry limit" >&2
    exit 1
fi
