#!/usr/bin/env bash
# gpu-run.sh OUTDIR [STEP,...]: everything one GPU session does (issues 7, 13), in order of value,
# under ONE deadline: a lent GPU gives 10 minutes per command and 15 in all, start-up included, so
# the run must bring back the most valuable numbers first and survive being cut short.
#
#   step      expected  what
#   info          3 s   device, driver, clocks (NVML through `seqbench info`)
#   check        10 s   `seqbench check --backend cuda`: every cuda impl vs ref
#   golden        6 s   the golden cases of tests/golden on cuda
#   golden-more   6 s   ... and of tests/golden_more
#   ttt-cuda     20 s   tests ttt_cuda/*: the TTT cuda kernels at the benchmarked head dim 64 (and 32, 128)
#   memcheck      8 s   compute-sanitizer memcheck on a TTT-MLP decode golden case
#   racecheck     8 s   compute-sanitizer racecheck on a TTT-Linear prefill golden case
#   ttt         140 s   TTT layers (TTT_LAYERS), layer level: prefill B=16, decode B=16,512 at CTX
#   layers      100 s   the other layers (OTHER_LAYERS) at the same points
#   peers        90 s   bench/peers/run_peers.sh at CTX: the library a user would pick instead, per layer
#   fig15        80 s   Fig. 15 at model level: prefill B=16, decode B=16,512 at CTX (an oom row, decided
#                       from the predicted memory before any weight is built, where B=512 cannot fit)
#   tests        45 s   the remaining GPU rows of the Criterion tests
#   Expected seconds are estimates, not measurements: the 2026-11-27 H100 run took 1-2 s for check,
#   golden, memcheck and racecheck each, 45 s for the GPU tests, 151 s for 37 layer-level points
#   (1-3 s per point up to 4k, ~30 s for a 16k prefill point, mostly its host-side input); the
#   sweeps here have 30 (ttt), 30-60 (layers) and 60-120 (fig15) points, of which --budget keeps
#   what fits. They add up to 516 s + the reserve (scripts/gpu-rehearse.sh checks the sum).
#
# The deadline: DEADLINE_S (default 540) from the start; RESERVE_S (10) kept for the final table and
# archive. A step may use its expected seconds plus whatever the steps before it saved, never the
# seconds the steps after it expect: limit = time left - RESERVE_S - (sum of the later steps'
# expected seconds). So every step gets at least its expected time when the ones before kept theirs,
# and a slow step eats only its own share. Sweeps get `--budget` = limit - SWEEP_MARGIN_S and skip
# points that would overrun it (a `skipped` row says so); a step still running at its limit is
# killed with its whole process group (its own group; TERM, then KILL after 5 s). A step with under
# MIN_STEP_S left is not started (summary: "no time").
#
# Output (at most 8 files; the device tool brings back 8): OUTDIR/summary.txt (a line per step:
# rc, seconds, limit, expected), OUTDIR/logs.tgz (every log so far, rewritten after each step),
# OUTDIR/ttt.csv, layers.csv, fig15.csv (rows fsync'ed as they are measured), OUTDIR/peers/peers.csv
# and peers.log (likewise). A kill at any moment loses at most the point in flight.
#
# Binaries: those carried in $CARRY (default .devcarry/, made by scripts/pack-device.sh); the
# libraries the box lacks are unpacked to $WORK/lib and put on LD_LIBRARY_PATH of the project's
# binaries alone (wrappers in $WORK/bin), never of Python/Triton, which would load the carried
# Debian libz/libffi. GPU clocks come from NVML inside seqbench; nothing forks nvidia-smi per point.
#
# Rehearsal without a GPU (scripts/gpu-rehearse.sh): GPU_RUN_BACKEND=cpu, GPU_RUN_CONFIG=tiny,
# GPU_RUN_CTX=64,128, GPU_RUN_PRESET_LAYER=ci, GPU_RUN_PRESET_MODEL=ci run every step on the CPU
# (PEERS_DEVICE=cpu for the peers); GPU_RUN_LIB=1 when sourcing defines the functions only.
set -u

# ---- what is measured (extend here: a layer not in `seqbench list` is left out) ----------------
TTT_LAYERS=${TTT_LAYERS:-"ttt_linear ttt_mlp"}
OTHER_LAYERS=${OTHER_LAYERS:-"attention mamba mamba2 gated_deltanet"}
CTX=${GPU_RUN_CTX:-1k,4k,8k,16k,32k}
BACKEND=${GPU_RUN_BACKEND:-cuda}
CONFIG=${GPU_RUN_CONFIG:-1.3b}
PRESET_LAYER=${GPU_RUN_PRESET_LAYER:-quick}  # layer-level sample rule (preset quick)
PRESET_MODEL=${GPU_RUN_PRESET_MODEL:-fig15}  # model-level sample rule (preset fig15)
PEERS_ARGS=${GPU_RUN_PEERS_ARGS:-}           # e.g. rehearsal: nothing (PEERS_DEVICE=cpu is read by run_peers)

# name:expected_s, in the order they run (the order of value); GPU_RUN_STEPS replaces the expected
# seconds for a rehearsal on another machine.
read -ra STEPS <<<"${GPU_RUN_STEPS:-info:3 check:10 golden:6 golden-more:6 ttt-cuda:20 memcheck:8 racecheck:8 \
ttt:140 layers:100 peers:90 fig15:80 tests:45}"
DEADLINE_S=${DEADLINE_S:-540}
RESERVE_S=${RESERVE_S:-10}
MIN_STEP_S=${MIN_STEP_S:-5}
SWEEP_MARGIN_S=${SWEEP_MARGIN_S:-8}
KILL_GRACE_S=${KILL_GRACE_S:-5}

# ---- time ----------------------------------------------------------------------------------------
now_s() { date +%s; }
expected_of() { local s; for s in "${STEPS[@]}"; do [ "${s%%:*}" = "$1" ] && { echo "${s#*:}"; return; }; done; echo 0; }
# Sum of the expected seconds of the steps after $1 that are selected.
later_expected() {
    local s seen=0 sum=0
    for s in "${STEPS[@]}"; do
        [ $seen = 1 ] && selected "${s%%:*}" && sum=$((sum + ${s#*:}))
        [ "${s%%:*}" = "$1" ] && seen=1
    done
    echo $sum
}
# The limit of step $1 now: time left to the deadline, less the reserve and the later steps' share.
step_limit() { echo $((END - $(now_s) - RESERVE_S - $(later_expected "$1"))); }

selected() { [ "$WHAT" = all ] || case ",$WHAT," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

# ---- one step: its own process group, killed whole at its limit -----------------------------------
# A step runs as a job of its own process group (job control, set -m), in this script's session: a
# setsid'd step would outlive a kill of this script (the device tool ends what a command leaves
# running, except new sessions). CURRENT_PGID is what the TERM trap below kills.
CURRENT_PGID=
kill_group() { # kill_group PGID: TERM, up to KILL_GRACE_S for it to go, then KILL
    local pgid=$1 g=0
    kill -TERM -- "-$pgid" 2>/dev/null || return 0
    while kill -0 -- "-$pgid" 2>/dev/null && [ $g -lt $((KILL_GRACE_S * 5)) ]; do sleep 0.2; g=$((g + 1)); done
    kill -KILL -- "-$pgid" 2>/dev/null
    return 0
}

# run_limited LIMIT LOG CMD...: rc of CMD, or 124 when the limit killed it. Whatever the command
# left running in its group is killed when it ends, too.
run_limited() {
    local limit=$1 log=$2 pid rc t_end killed=0
    shift 2
    set -m # the job below gets its own process group (pgid = its pid)
    # bash -c: a step may be one of the functions below (exported)
    bash -c '"$@"' gpu-run-step "$@" >"$log" 2>&1 </dev/null &
    pid=$!
    set +m
    CURRENT_PGID=$pid
    t_end=$(($(now_s) + limit))
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$(now_s)" -ge "$t_end" ]; then
            killed=1
            echo "gpu-run: limit of ${limit}s reached: TERM to process group $pid" >>"$log"
            kill_group "$pid"
            break
        fi
        sleep 0.2
    done
    wait "$pid" 2>/dev/null
    rc=$?
    kill -KILL -- "-$pid" 2>/dev/null # children that outlived their parent
    CURRENT_PGID=
    [ $killed = 1 ] && rc=124
    return $rc
}

# This script killed (the command's limit on the device): the step in flight goes with it, and the
# logs so far are archived (rows are in OUTDIR already).
on_term() {
    [ -n "$CURRENT_PGID" ] && KILL_GRACE_S=1 kill_group "$CURRENT_PGID"
    echo "gpu-run: terminated $(($(now_s) - T0)) s into the run" >>"$OUT/summary.txt"
    archive_logs
    exit 143
}

archive_logs() { # logs.tgz replaced atomically: a kill mid-way leaves the previous archive
    tar czf "$OUT/.logs.tgz.part" -C "$WORK" logs 2>/dev/null && mv -f "$OUT/.logs.tgz.part" "$OUT/logs.tgz"
}

# step NAME CMD...: runs CMD under the step's limit (LIMIT is exported for sweeps), logs to
# $LOGS/NAME.log, appends the step's line to summary.txt, archives the logs.
step() {
    local name=$1 expected limit s rc
    shift
    selected "$name" || return 0
    expected=$(expected_of "$name")
    limit=$(step_limit "$name")
    if [ "$limit" -lt "$MIN_STEP_S" ]; then
        printf '%-12s rc=%-4s %4ss  limit %4ss  expected %4ss  no time\n' "$name" - 0 "$limit" "$expected" >>"$OUT/summary.txt"
        echo "== $name: not started ($limit s left for it)"
        return 0
    fi
    echo "== $name (limit ${limit}s, expected ${expected}s, $(($(now_s) - T0))s into the run)"
    s=$(now_s)
    export LIMIT=$limit
    run_limited "$limit" "$LOGS/$name.log" "$@"
    rc=$?
    tail -n 3 "$LOGS/$name.log" | cut -c1-200 | sed 's/^/   /'
    printf '%-12s rc=%-4s %4ss  limit %4ss  expected %4ss%s\n' "$name" "$rc" "$(($(now_s) - s))" "$limit" "$expected" \
        "$([ $rc = 124 ] && echo '  killed at its limit')" >>"$OUT/summary.txt"
    archive_logs
    return 0
}

# Layers of the list $1 that this seqbench has (comma-separated; empty when none).
present_layers() {
    local have l out=""
    have=$("$SB" list 2>/dev/null | awk '$1 == "layer" {print $2}')
    for l in $1; do grep -qx "$l" <<<"$have" && out=${out:+$out,}$l; done
    echo "$out"
}

# A sweep: seqbench run with the step's budget, rows straight into OUTDIR/$1.csv.
sweep() {
    local csv=$1
    shift
    [ -n "${1:-}" ] || { echo "gpu-run: no layer of this list is registered"; return 0; }
    "$SB" run "$@" --backend "$BACKEND" --config "$CONFIG" --ctx "$CTX" --budget $((LIMIT - SWEEP_MARGIN_S)) \
        --out "$OUT/$csv.csv" --resume
}
layer_sweep() { local layers=$2; [ -n "$layers" ] || return 0; sweep "$1" --preset "$PRESET_LAYER" --levels layer --layers "$layers"; }
model_sweep() { local layers=$1; [ -n "$layers" ] || return 0; sweep fig15 --preset "$PRESET_MODEL" --levels model --layers "$layers"; }

# The peers (Python: no carried library on its path), rows straight into OUTDIR/peers/.
peers_run() {
    # shellcheck disable=SC2086
    SEQBENCH_RUN_ID=peers-$(date -u +%Y%m%dT%H%M%SZ) bench/peers/run_peers.sh "$OUT/peers" --ctx "$CTX" \
        --budget $((LIMIT - KILL_GRACE_S)) $PEERS_ARGS
}

# The project's binaries with the carried libraries (and nothing else with them).
make_wrappers() {
    mkdir -p "$WORK/bin"
    local b
    for b in seqbench run_tests; do
        printf '#!/bin/sh\nLD_LIBRARY_PATH=%s/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %s "$@"\n' "$WORK" "$CARRY/$b" \
            >"$WORK/bin/$b"
        chmod +x "$WORK/bin/$b"
    done
}

sanitize() { # sanitize TOOL ARGS...: compute-sanitizer on seqbench, or a note when there is none
    local tool=$1
    shift
    [ -n "$SAN" ] || { echo "no compute-sanitizer on this machine: skipped"; return 0; }
    "$SAN" --tool "$tool" --target-processes all --error-exitcode 9 "$SB" "$@"
}

main() {
    OUT=${1:?usage: scripts/gpu-run.sh OUTDIR [step,...|all]}
    WHAT=${2:-all}
    T0=$(now_s)
    END=$((T0 + DEADLINE_S))
    ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    cd "$ROOT" || exit 2
    mkdir -p "$OUT" || exit 2
    OUT=$(cd "$OUT" && pwd)
    CARRY=${CARRY:-.devcarry}
    case $CARRY in /*) ;; *) CARRY=$ROOT/$CARRY ;; esac
    WORK=${GPU_RUN_WORK:-$(mktemp -d /tmp/sbrun.XXXXXX)}
    LOGS=$WORK/logs
    mkdir -p "$LOGS" "$WORK/lib"
    : >"$OUT/summary.txt"
    trap on_term TERM INT HUP
    [ -f "$CARRY/libs.tar.xz" ] && tar xJf "$CARRY/libs.tar.xz" -C "$WORK"
    make_wrappers
    SB=$WORK/bin/seqbench
    TESTS=$WORK/bin/run_tests
    SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || echo)
    export OUT SB SAN
    export SEQBENCH_GIT_SHA=${SEQBENCH_GIT_SHA:-$(cat "$CARRY/git_sha" 2>/dev/null || echo unknown)}
    export SEQBENCH_BIN=$SB
    echo "gpu-run: deadline ${DEADLINE_S}s, steps $WHAT, backend $BACKEND, config $CONFIG, ctx $CTX -> $OUT"
    { uname -a; command -v nvidia-smi >/dev/null && nvidia-smi -L; LD_LIBRARY_PATH=$WORK/lib ldd "$CARRY/seqbench"; } \
        >"$LOGS/machine.log" 2>&1

    local ttt other all
    ttt=$(present_layers "$TTT_LAYERS")
    other=$(present_layers "$OTHER_LAYERS")
    all=${ttt:+$ttt,}$other
    echo "gpu-run: TTT layers: ${ttt:-none}; other layers: ${other:-none}"

    step info "$SB" info
    step check "$SB" check --backend "$BACKEND"
    step golden "$SB" golden tests/golden --backend "$BACKEND"
    step golden-more "$SB" golden tests/golden_more --backend "$BACKEND"
    step ttt-cuda "$TESTS" --jobs 8 --filter 'ttt_cuda/*'
    step memcheck sanitize memcheck golden tests/golden/ttt_mlp_shareqk_gate_decode_T32_S20 --backend "$BACKEND"
    step racecheck sanitize racecheck golden tests/golden/ttt_linear_prefill_T45 --backend "$BACKEND"
    step ttt layer_sweep ttt "$ttt"
    step layers layer_sweep layers "$other"
    step peers peers_run
    step fig15 model_sweep "$all"
    step tests "$TESTS" --jobs 8 \
        --filter '@(backends|golden|decode|model|cuda_graph|attention_cuda|attention_plan|mamba_cuda_host|ttt)/*'

    local f
    for f in "$OUT"/*.csv; do [ -f "$f" ] && "$SB" summary "$f" >"$LOGS/summary-$(basename "$f" .csv).txt" 2>&1; done
    archive_logs
    echo "== summary ($(($(now_s) - T0)) s of ${DEADLINE_S}):"
    cat "$OUT/summary.txt"
    [ -n "${GPU_RUN_WORK:-}" ] || rm -rf "$WORK"
}

# What a step's own bash (run_limited) needs: the step functions and their variables.
export -f sweep layer_sweep model_sweep sanitize peers_run
export TTT_LAYERS OTHER_LAYERS CTX BACKEND CONFIG PRESET_LAYER PRESET_MODEL PEERS_ARGS SWEEP_MARGIN_S KILL_GRACE_S
[ "${GPU_RUN_LIB:-0}" = 1 ] || main "$@"
