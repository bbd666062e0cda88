#!/usr/bin/env bash
# cpu_ratios.sh [OUTDIR]: the CPU backend's performance claims (issue 6), all in ONE run on this
# machine, as ratios:
#   1. projections inside the layers vs OpenBLAS sgemm alone on the same shapes (target >= 80%):
#      (layer prefill - op prefill) time vs the sum of the layer's projection GEMMs timed alone;
#      the difference also holds convs, norms, RoPE and gates, so this ratio is a lower bound;
#   2. cpu vs ref speed-up per layer at T = 4k (layer prefill, B 1, 125m);
#   3. cpu attention prefill vs PyTorch CPU SDPA (bench/peers/torch_cpu_sdpa.py; skipped when
#      torch is not importable by $PYTHON);
#   4. TTT dual vs primal prefill on the cpu backend;
#   5. peak host memory of attention prefill at T = 32k (getrusage maxrss) vs T*D.
# Writes OUTDIR/{cpu,ref,mem}.csv, sgemm.txt, sdpa.csv and ratios.txt (default results/<slug>/ratios-<utc>).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SEQBENCH_BIN:-build/seqbench}
PY=${PYTHON:-python3}
# torch installed by SEQBENCH_CPU_PEERS=install lives in build/peers-venv
[ -z "${PYTHON:-}" ] && [ -x build/peers-venv/bin/python ] && PY=build/peers-venv/bin/python
[ -x "$BIN" ] || make -s all >/dev/null
OUT=${1:-results/$("$BIN" info --slug)/ratios-$(date -u +%Y%m%dT%H%MZ)}
mkdir -p "$OUT"
T=4096
common=(--preset cpu-full --config 125m --batch 1 --modes prefill --ctx $T)
echo "cpu_ratios: cpu backend, op+layer prefill at T=$T" >&2
"$BIN" run "${common[@]}" --backend cpu --levels op,layer --out "$OUT/cpu.csv" >/dev/null
echo "cpu_ratios: ref backend, layer prefill at T=$T (minutes)" >&2
"$BIN" run "${common[@]}" --backend ref --levels layer --impl naive,sequential,dual --out "$OUT/ref.csv" >/dev/null
echo "cpu_ratios: attention op prefill at T=32k (memory)" >&2
"$BIN" run --preset cpu-full --config 125m --batch 1 --modes prefill --ctx 32k --backend cpu --levels op \
  --layers attention --out "$OUT/mem.csv" >/dev/null
# The projection GEMMs of each 125m layer (M = B*T rows): D 768, E 1536, R 48, N 16, H 12.
"$BIN" sgemm "${T}x768x2304,${T}x768x768,${T}x768x3072,${T}x1536x80,${T}x48x1536,${T}x1536x768,${T}x768x3084" >"$OUT/sgemm.txt"
if "$PY" -c 'import torch' 2>/dev/null; then
  "$PY" bench/peers/torch_cpu_sdpa.py --ctx 1024,2048,4096,8192 >"$OUT/sdpa.csv" 2>"$OUT/sdpa.log" || true
fi
"$PY" scripts/cpu_ratios.py "$OUT" | tee "$OUT/ratios.txt"
