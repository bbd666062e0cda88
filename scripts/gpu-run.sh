#!/usr/bin/env bash
# gpu-run.sh OUTDIR [WORDS]: everything one GPU session does (issue 7); WORDS = comma-separated:
#   verify: device info, `seqbench check` (every impl vs ref), golden cases on cuda, the GPU rows
#           of the Criterion tests, compute-sanitizer memcheck/racecheck on small shapes;
#   quick:  the quick preset (our kernels, layer level);
#   peers:  bench/peers/run_peers.sh --quick (in the same call as quick: ratios from one run);
#   fig15:  the fig15 preset (Fig. 15 shapes at model level, short sampling);
#   all:    verify,quick,peers (default).
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

want() { case ",$WHAT," in *",$1,"*) return 0 ;; esac; [ "$1" != fig15 ] && [ "$WHAT" = all ]; }
export SEQBENCH_GIT_SHA=${SEQBENCH_GIT_SHA:-$(cat "$CARRY/git_sha" 2>/dev/null || echo unknown)}

if want verify; then
  step check 60 "$BIN" check
  step golden 30 "$BIN" golden tests/golden --backend cuda
  step golden-more 30 "$BIN" golden tests/golden_more --backend cuda
  step tests 90 env SEQBENCH_BIN="$BIN" "$TESTS" --jobs 12 \
      --filter '@(backends|golden|decode|model|cuda_graph|attention_cuda|attention_plan|mamba_cuda_host|ttt)/*'
  if [ -n "$SAN" ]; then
    step memcheck-ttt 40 "$SAN" --tool memcheck --error-exitcode 9 "$BIN" golden tests/golden/ttt_mlp_shareqk_gate_decode_T32_S20 --backend cuda
    step racecheck-ttt 40 "$SAN" --tool racecheck --error-exitcode 9 "$BIN" golden tests/golden/ttt_linear_prefill_T45 --backend cuda
  fi
fi

if want quick; then
  step quick 160 "$BIN" run --preset quick --out "$OUT/quick.csv"
fi

if want peers; then
  step peers 190 bench/peers/run_peers.sh /tmp/sbrun/peers --quick
  cp /tmp/sbrun/peers/peers.csv "$OUT/peers.csv" 2>/dev/null
  cp /tmp/sbrun/peers/peers.log "$LOGS/" 2>/dev/null
fi

if want fig15; then
  step fig15 130 "$BIN" run --preset fig15 --out "$OUT/fig15.csv"
fi

for f in "$OUT"/quick.csv "$OUT"/fig15.csv; do [ -f "$f" ] && "$BIN" summary "$f" >"$LOGS/summary-$(basename "$f" .csv).txt" 2>&1; done
tar czf "$OUT/logs.tgz" -C /tmp/sbrun logs
echo "== summary ($(($(date +%s) - t0)) s)"
cat "$OUT/summary.txt"
