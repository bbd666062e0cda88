#!/usr/bin/env bash
# gpu-run.sh OUTDIR [verify|bench|all]: everything one GPU session does, in one call (issue 7):
#   verify: device info, `seqbench check` (every impl vs ref), golden cases on cuda, the GPU rows
#           of the Criterion tests, compute-sanitizer memcheck/racecheck on small shapes;
#   bench:  the quick preset (our kernels), the peers (bench/peers/run_peers.sh --quick);
#   all:    both (default).
# Uses the binaries carried in .devcarry/ (scripts/pack-device.sh builds them on the CPU box) and
# the wheels in .whl/. Writes at most 8 files into OUTDIR: summary.txt, logs.tgz and the CSVs.
# Each step has its own time limit; a failing step never stops the next one. A short table last.
set -u
OUT=${1:?usage: scripts/gpu-run.sh OUTDIR [verify|bench|all]}
WHAT=${2:-all}
cd "$(dirname "$0")/.."
mkdir -p "$OUT" /tmp/sbrun/logs
LOGS=/tmp/sbrun/logs
CARRY=${CARRY:-.devcarry}
t0=$(date +%s)
mkdir -p /tmp/sbrun/lib && tar xJf "$CARRY/libs.tar.xz" -C /tmp/sbrun
export LD_LIBRARY_PATH=/tmp/sbrun/lib:${LD_LIBRARY_PATH:-}
BIN=$PWD/$CARRY/seqbench
TESTS=$PWD/$CARRY/run_tests
SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || echo)

step() { # step NAME LIMIT_S CMD...: run with a time limit, log to LOGS/NAME.log, record rc and seconds
  local name=$1 limit=$2 s rc
  shift 2
  s=$(date +%s)
  echo "== $name (limit ${limit}s)"
  timeout -k 5 "$limit" "$@" >"$LOGS/$name.log" 2>&1
  rc=$?
  tail -n 3 "$LOGS/$name.log" | sed 's/^/   /'
  printf '%-14s rc=%-3s %4ss\n' "$name" "$rc" "$(($(date +%s) - s))" >>"$OUT/summary.txt"
}

{ nvidia-smi; nvidia-smi -q -d CLOCK; ldd "$BIN"; } >"$LOGS/machine.log" 2>&1
step info 30 "$BIN" info

if [ "$WHAT" = verify ] || [ "$WHAT" = all ]; then
  step check 180 "$BIN" check
  step golden 60 "$BIN" golden tests/golden --backend cuda
  step tests 300 env SEQBENCH_BIN="$BIN" "$TESTS" --jobs 8 --filter 'backends/*' --filter 'golden/*'
  if [ -n "$SAN" ]; then
    for c in attention_decode_T32_S20 mamba_decode_T32_S20 ttt_linear_shareqk_gate_decode_T32_S20 ttt_mlp_decode_T37_S20; do
      step "memcheck-${c%%_*}" 120 "$SAN" --tool memcheck --error-exitcode 9 "$BIN" golden "tests/golden/$c" --backend cuda
    done
    step racecheck 180 "$SAN" --tool racecheck --error-exitcode 9 "$BIN" golden tests/golden/ttt_linear_prefill_T64 --backend cuda
  fi
fi

if [ "$WHAT" = bench ] || [ "$WHAT" = all ]; then
  step quick 300 "$BIN" run --preset quick --out "$OUT/quick.csv"
  [ -x bench/peers/run_peers.sh ] && step peers 200 bench/peers/run_peers.sh "$OUT" --quick
fi

tar czf "$OUT/logs.tgz" -C /tmp/sbrun logs
echo "== summary ($(($(date +%s) - t0)) s)"
cat "$OUT/summary.txt"
