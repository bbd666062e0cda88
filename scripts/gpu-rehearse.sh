#!/usr/bin/env bash
# gpu-rehearse.sh [WORKDIR]: a dress rehearsal of scripts/gpu-run.sh on a machine without a GPU
# (issue 13): everything a lent GPU would run, with the cuda backend replaced by cpu, config tiny,
# contexts 64 and 128, the ci sample rule, the peers in their CPU smoke mode. Checks, each one a
# line "ok ..." or "FAIL ..." (exit 1 on any FAIL):
#   1. the deadline arithmetic of the real step table: expected seconds + reserve fit DEADLINE_S,
#      and with every step taking exactly its expected time each limit is that time plus the slack;
#      a step that overruns eats only its own share (later limits unchanged);
#   2. a step over its limit is killed with its children (setsid process group), rc 124;
#   3. scripts/pack-device.sh packs a carry folder (CPU-only build here);
#   4. a whole run killed mid-way (as the device tool kills a command at its limit) leaves in
#      OUTDIR the rows and the archived logs of every step that finished, and the rows measured
#      so far by the step in flight;
#   5. a whole run to its end: every step in the order of the table, one summary line each, the
#      CSVs with rows, logs.tgz with every step's log, nothing left running;
#   6. the real settings (cuda, 1.3b, the GPU table of gpu-run.sh): a step that fails, fails for want
#      of a GPU (its log says so), and the others pass or skip.
# WORKDIR (default a temp dir) keeps the outputs for reading. Takes ~3-5 minutes on 2 cores.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
WORK=${1:-$(mktemp -d /tmp/gpu-rehearse.XXXXXX)}
mkdir -p "$WORK"
FAILS=0
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; FAILS=$((FAILS + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
# Not running: no such process, or a zombie (here PID 1 may not reap orphans).
gone() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null); [ -z "$st" ] || [[ $st == Z* ]]; }
# Processes whose command line names $1 (this script's own does not).
none_running() { ! pgrep -f -- "$1" >/dev/null; }

# ---- 1. deadline arithmetic (the real table, a fake clock) ----------------------------------------
(
    GPU_RUN_LIB=1
    # shellcheck source=gpu-run.sh
    source scripts/gpu-run.sh
    WHAT=all
    total=0
    for s in "${STEPS[@]}"; do total=$((total + ${s#*:})); done
    check "the expected seconds ($total) + reserve ($RESERVE_S) fit the ${DEADLINE_S} s deadline" \
        test $((total + RESERVE_S)) -le "$DEADLINE_S"
    slack=$((DEADLINE_S - RESERVE_S - total))
    FAKE_NOW=1000
    now_s() { echo "$FAKE_NOW"; }
    END=$((FAKE_NOW + DEADLINE_S))
    bad=""
    for s in "${STEPS[@]}"; do # every step on time: limit = expected + slack
        lim=$(step_limit "${s%%:*}")
        [ "$lim" -eq $((${s#*:} + slack)) ] || bad="$bad ${s%%:*}=$lim"
        FAKE_NOW=$((FAKE_NOW + ${s#*:}))
    done
    check "each step's limit is its expected time + the ${slack} s slack when all run on time${bad:+ (off:$bad)}" test -z "$bad"
    # the first sweep overruns to its limit: the later steps keep their expected time, no more
    FAKE_NOW=1000
    END=$((FAKE_NOW + DEADLINE_S))
    bad=""
    seen=0
    for s in "${STEPS[@]}"; do
        n=${s%%:*}
        lim=$(step_limit "$n")
        if [ "$n" = ttt ]; then FAKE_NOW=$((FAKE_NOW + lim)); seen=1; continue; fi
        [ $seen = 1 ] && [ "$lim" -ne "${s#*:}" ] && bad="$bad $n=$lim"
        FAKE_NOW=$((FAKE_NOW + ${s#*:}))
    done
    check "a step that uses its whole limit leaves every later step exactly its expected time${bad:+ (off:$bad)}" test -z "$bad"
    WHAT=ttt,fig15
    check "unselected steps promise nothing: ttt alone with fig15 after it gets all but fig15's share" \
        test "$(END=$((FAKE_NOW + 300)) step_limit ttt)" -eq $((300 - RESERVE_S - $(expected_of fig15)))
    exit "$FAILS"
) || FAILS=$((FAILS + $?))

# ---- 2. a step over its limit is killed with its children -------------------------------------
(
    GPU_RUN_LIB=1
    source scripts/gpu-run.sh
    KILL_GRACE_S=1
    t0=$(date +%s)
    run_limited 2 "$WORK/kill.log" bash -c "sleep 300 & echo \$! > '$WORK/child.pid'; trap '' TERM; sleep 300"
    rc=$?
    dt=$(($(date +%s) - t0))
    check "a step over its limit returns 124 (got $rc)" test "$rc" = 124
    check "and is stopped within limit + grace (+2 s) ($dt s)" test "$dt" -le 5
    sleep 0.3
    check "its child is gone, and the parent that ignored TERM too" gone "$(cat "$WORK/child.pid")"
    run_limited 5 "$WORK/orphan.log" bash -c "(sleep 300 & echo \$! > '$WORK/orphan.pid'); exit 3"
    rc=$?
    sleep 0.3
    check "a step that ends on time returns its own rc (3: $rc)" test "$rc" = 3
    check "and leaves nothing running in its group" gone "$(cat "$WORK/orphan.pid")"
    exit "$FAILS"
) || FAILS=$((FAILS + $?))

# ---- 3. pack-device.sh (CPU-only build) -----------------------------------------------------------
CARRY_DIR=.devcarry-rehearse
if CARRY=$CARRY_DIR PACK_MAKE_ARGS="NVCC=" scripts/pack-device.sh >"$WORK/pack.log" 2>&1; then
    ok "pack-device.sh packed $CARRY_DIR ($(du -sh $CARRY_DIR | cut -f1))"
else
    fail "pack-device.sh (see $WORK/pack.log)"
fi
for f in seqbench run_tests libs.tar.xz git_sha; do
    check "$CARRY_DIR/$f exists" test -s "$CARRY_DIR/$f"
done

# ---- the rehearsal environment ---------------------------------------------------------------------
# Steps as on the GPU, each with an expected time measured here on 2 cores (the GPU table is above).
export CARRY=$CARRY_DIR GPU_RUN_BACKEND=cpu GPU_RUN_CONFIG=tiny GPU_RUN_CTX=64,128 GPU_RUN_PRESET_LAYER=ci \
    GPU_RUN_PRESET_MODEL=ci PEERS_DEVICE=cpu SWEEP_MARGIN_S=3
REHEARSAL_STEPS="info:3 check:15 golden:10 golden-more:10 ttt-cuda:5 memcheck:3 racecheck:3 ttt:25 layers:25 peers:20 fig15:30 tests:150"
expected_order=$(tr ' ' '\n' <<<"$REHEARSAL_STEPS" | cut -d: -f1 | tr '\n' ' ')

# ---- 4. a run killed in the middle ----------------------------------------------------------------
# As the device tool stops a command at its limit: TERM to the script while a sweep is measuring.
OUT4=$WORK/killed
rm -rf "$OUT4"
GPU_RUN_STEPS=$REHEARSAL_STEPS DEADLINE_S=400 scripts/gpu-run.sh "$OUT4" >"$WORK/killed.out" 2>&1 &
pid=$!
for _ in $(seq 1 900); do # until the ttt step is done and the layers step has written a row
    grep -q '^ttt ' "$OUT4/summary.txt" 2>/dev/null && [ "$(wc -l <"$OUT4/layers.csv" 2>/dev/null || echo 0)" -ge 2 ] && break
    sleep 0.5
done
kill -TERM "$pid" 2>/dev/null
wait "$pid"
rc=$?
check "killed run: the script ends on TERM (143: $rc)" test "$rc" = 143
check "killed run: ttt.csv holds the ttt step's rows ($(($(wc -l <"$OUT4/ttt.csv" 2>/dev/null || echo 1) - 1)))" \
    test "$(wc -l <"$OUT4/ttt.csv" 2>/dev/null || echo 0)" -ge 9
check "killed run: layers.csv holds the rows measured before the kill" test "$(wc -l <"$OUT4/layers.csv" 2>/dev/null || echo 0)" -ge 2
check "killed run: logs.tgz holds the logs of the finished steps and of the one killed" \
    bash -c "tar tzf '$OUT4/logs.tgz' | grep -q 'logs/ttt.log' && tar tzf '$OUT4/logs.tgz' | grep -q 'logs/check.log' &&
             tar tzf '$OUT4/logs.tgz' | grep -q 'logs/layers.log'"
check "killed run: summary.txt says it was terminated" grep -q 'terminated' "$OUT4/summary.txt"
sleep 0.5
check "killed run: nothing of it still runs" none_running "$OUT4/"

# ---- 5. a whole run ----------------------------------------------------------------------------------
OUT5=$WORK/full
rm -rf "$OUT5"
t0=$(date +%s)
GPU_RUN_STEPS=$REHEARSAL_STEPS DEADLINE_S=400 scripts/gpu-run.sh "$OUT5" >"$WORK/full.out" 2>&1
rc=$?
dt=$(($(date +%s) - t0))
check "full run: exit 0 ($rc)" test $rc = 0
check "full run: within its 400 s deadline ($dt s)" test $dt -le 400
got_order=$(cut -d' ' -f1 "$OUT5/summary.txt" | tr '\n' ' ')
check "full run: every step once, in the order of value ($got_order)" test "$got_order" = "$expected_order"
for csv in ttt layers fig15; do
    n=$(($(wc -l <"$OUT5/$csv.csv" 2>/dev/null || echo 1) - 1))
    check "full run: $csv.csv has rows ($n)" test "$n" -ge 1
done
check "full run: peers/peers.csv exists (rows, error rows where torch is missing)" test -s "$OUT5/peers/peers.csv"
for n in $expected_order; do
    tar tzf "$OUT5/logs.tgz" | grep -q "logs/$n.log" || fail "full run: logs.tgz lacks $n.log"
done
ok "full run: logs.tgz checked for every step's log"
check "full run: at most 8 files in OUTDIR ($(find "$OUT5" -type f | wc -l))" test "$(find "$OUT5" -type f | wc -l)" -le 8
check "full run: no step killed at its limit" bash -c "! grep -q 'killed at its limit' '$OUT5/summary.txt'"
check "full run: nothing of it still runs" none_running "$OUT5/"
# ---- 6. the real settings (cuda, 1.3b, the GPU step table): every step fails only for want of a GPU
OUT6=$WORK/real
rm -rf "$OUT6"
env -u GPU_RUN_BACKEND -u GPU_RUN_CONFIG -u GPU_RUN_CTX -u GPU_RUN_PRESET_LAYER -u GPU_RUN_PRESET_MODEL -u PEERS_DEVICE \
    scripts/gpu-run.sh "$OUT6" >"$WORK/real.out" 2>&1
check "real settings: one summary line per step of the GPU table" test "$(grep -c 'rc=' "$OUT6/summary.txt")" -eq 12
NO_GPU='not available|no CUDA|needs a CUDA GPU|built without CUDA|no compute-sanitizer'
while read -r name rc _; do
    [ "$rc" = rc=0 ] && continue
    tar xzf "$OUT6/logs.tgz" -C "$WORK" "logs/$name.log" 2>/dev/null
    if grep -qE "$NO_GPU" "$WORK/logs/$name.log" 2>/dev/null; then ok "real settings: $name fails for want of a GPU ($rc)"
    else fail "real settings: $name fails for another reason ($rc): $(tail -n 1 "$WORK/logs/$name.log" 2>/dev/null)"; fi
done <"$OUT6/summary.txt"
check "real settings: the peers wrote their rows (error rows: no torch/GPU here)" test -s "$OUT6/peers/peers.csv"

echo "--- summary.txt of the full run (seconds on this CPU; the GPU's expected seconds are in gpu-run.sh):"
cat "$OUT5/summary.txt"
echo "--- what failed for lack of a GPU (rc != 0 steps):"
grep -v 'rc=0 ' "$OUT5/summary.txt" || echo "(none)"
[ $FAILS = 0 ] && echo "gpu-rehearse: all checks passed ($WORK)" || echo "gpu-rehearse: $FAILS check(s) failed ($WORK)"
[ $FAILS = 0 ]
