#!/usr/bin/env bash
# run_peers.sh OUTDIR [--quick] [--ctx LIST] [--budget S] [--peaks FILE]: every peer of bench/peers/
# on the GPU box, one CSV.
#
#   OUTDIR/peers.csv  rows of SPEC §8 (appended; one run_id for the whole run, $SEQBENCH_RUN_ID or
#                     peers-<utc>), backends torch-sdpa, fla, mamba_ssm, torch-eager
#   OUTDIR/peers.log  everything printed
#
# --quick: T in {1k, 4k, 16k}, SDPA flash only, the whole run within 3 minutes (a deadline is kept:
#          each peer gets the time left minus what the peers after it are promised).
# default: T = 1k..32k, SDPA flash and math, within ~9.5 minutes.
# --ctx LIST: these contexts instead (e.g. 1k,4k,8k,16k,32k, as scripts/gpu-run.sh passes them).
# --budget S: the whole run within S seconds instead (each peer's share scaled from the quick ones).
# --peaks FILE (or $PEAKS): JSON {"bf16_tflops": ..., "gbps": ...} for the pct_peak columns.
#
# First installs the carried wheels (.whl/*.whl, from fetch_wheels.sh) as the device README says:
# pip install --no-index --no-deps --target /tmp/site, then PYTHONPATH=/tmp/site. mamba_ssm's files
# are read from .whl/mamba_ssm_src by mamba_peer.py itself.
# One failing peer never stops the run: a peer that crashes or runs out of its time is re-run with
# --fill-missing, which writes an `error` row for each of its points that has no row yet (and if even
# that fails, one error row for the peer is written from here).
# Environment: PYTHON (default python3), PEERS_DEVICE=cpu for a local smoke run of this script
# (tiny shapes, Triton peers skipped).
set -u -o pipefail

usage() { echo "usage: bench/peers/run_peers.sh OUTDIR [--quick] [--ctx LIST] [--budget S] [--peaks FILE]" >&2; exit 2; }
[ $# -ge 1 ] || usage
OUT=$1; shift
QUICK=0
PEAKS=${PEAKS:-}
CTX_ARG=
BUDGET_ARG=
while [ $# -gt 0 ]; do
    case $1 in
        --quick) QUICK=1 ;;
        --peaks) [ $# -ge 2 ] || usage; PEAKS=$2; shift ;;
        --ctx) [ $# -ge 2 ] || usage; CTX_ARG=$2; shift ;;
        --budget) [ $# -ge 2 ] && [[ $2 =~ ^[0-9]+$ ]] || usage; BUDGET_ARG=$2; shift ;;
        *) usage ;;
    esac
    shift
done

START=$(date +%s)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/bench/peers
PY=${PYTHON:-python3}
DEVICE=${PEERS_DEVICE:-cuda}
mkdir -p "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)
CSV=$OUT/peers.csv
LOG=$OUT/peers.log
exec > >(tee -a "$LOG") 2>&1
TEE_PID=$!
export PYTHONUNBUFFERED=1
export SEQBENCH_RUN_ID=${SEQBENCH_RUN_ID:-peers-$(date -u +%Y%m%dT%H%M%SZ)}
echo "run_peers: $(date -u +%FT%TZ) run_id $SEQBENCH_RUN_ID quick=$QUICK device=$DEVICE -> $CSV"
command -v nvidia-smi > /dev/null && nvidia-smi -L

# ---- carried wheels ----------------------------------------------------------------------------
if compgen -G "$ROOT/.whl/*.whl" > /dev/null; then
    if "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        "$ROOT"/.whl/*.whl; then
        export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
        echo "run_peers: installed $(cd "$ROOT/.whl" && ls *.whl | tr '\n' ' ')into /tmp/site"
    else
        echo "run_peers: WARNING: installing .whl/*.whl failed; peers that need them write error rows"
    fi
else
    echo "run_peers: no .whl/*.whl (run bench/peers/fetch_wheels.sh where PyPI is reachable, carry .whl)"
fi

# ---- time budget -------------------------------------------------------------------------------
if [ "$QUICK" = 1 ]; then
    TOTAL=168; CTX=1k,4k,16k; SDPA_IMPL=flash   # + at most one --fill-missing pass (~8 s) = 3 min
    declare -A BUDGET=([sdpa]=26 [mamba_peer]=20 [mamba2_peer]=32 [ttt_torch_dual]=20 [fla_ttt]=32 [fla_gdn]=30)
else
    TOTAL=570; CTX=1k:32k; SDPA_IMPL=flash,math
    declare -A BUDGET=([sdpa]=130 [mamba_peer]=80 [mamba2_peer]=95 [ttt_torch_dual]=95 [fla_ttt]=85 [fla_gdn]=75)
fi
[ -n "$CTX_ARG" ] && CTX=$CTX_ARG
if [ -n "$BUDGET_ARG" ]; then # the quick shares, scaled to the budget (less the --fill-missing reserve)
    QUICK_SUM=160
    declare -A BUDGET=([sdpa]=38 [mamba_peer]=34 [ttt_torch_dual]=30 [fla_ttt]=58)
    for n in "${!BUDGET[@]}"; do BUDGET[$n]=$((BUDGET[$n] * (BUDGET_ARG - 8) / QUICK_SUM)); done
    TOTAL=$BUDGET_ARG
fi
# fla last: its Triton compile and autotune time is the least predictable, and the last peer gets
# whatever the others left. mamba2_peer's budget includes the autotuning of the SSD kernels on first call.
ORDER=(sdpa mamba_peer mamba2_peer ttt_torch_dual fla_ttt fla_gdn)
FILL_RESERVE=8   # seconds kept back for a --fill-missing pass

common=(--device "$DEVICE" --out "$CSV")
[ -n "$PEAKS" ] && common+=(--peaks "$PEAKS")
[ "$DEVICE" = cuda ] && common+=(--ctx "$CTX")
declare -A ARGS=(
    [sdpa]="--impl $SDPA_IMPL"
    [fla_ttt]=""
    [fla_gdn]=""
    [mamba_peer]=""
    [mamba2_peer]=""
    [ttt_torch_dual]=""
)
declare -A BACKEND=([sdpa]=torch-sdpa [fla_ttt]=fla [fla_gdn]=fla [mamba_peer]=mamba_ssm [mamba2_peer]=mamba_ssm [ttt_torch_dual]=torch-eager)
declare -A LAYER=([sdpa]=attention [fla_ttt]=ttt_linear [fla_gdn]=gated_deltanet [mamba_peer]=mamba [mamba2_peer]=mamba2 [ttt_torch_dual]=ttt_linear)

# One error row written from here (when Python itself cannot run), as wide as the file's header
# (SPEC §8's 43 columns, or 48 with the §14 additions that peer_common.py writes).
raw_error_row() {
    local name=$1 reason=${2//,/;}
    local header="run_id,utc,git_sha,host,cpu_model,threads,gpu,gpu_sms,gpu_clock_mhz,cuda,driver,backend,layer,impl,level,mode,dtype,config,batch,ctx,d_model,heads,head_dim,d_state,mini_batch,n_layers,samples,median_ms,min_ms,max_ms,noise,tokens,us_per_token,flops,tflops,bytes,gbps,pct_peak_flops,pct_peak_bw,state_bytes,peak_mem_bytes,status,note,shard,blas,joules_per_token,watts,setup_s"
    [ -s "$CSV" ] || echo "$header" > "$CSV"
    local ncols
    ncols=$(head -n 1 "$CSV" | awk -F, '{print NF}')
    local cells=() i
    for i in $(seq 1 "$ncols"); do cells+=(""); done
    cells[0]=$SEQBENCH_RUN_ID; cells[1]=$(date -u +%FT%TZ); cells[3]=$(hostname)
    cells[11]=${BACKEND[$name]}; cells[12]=${LAYER[$name]}; cells[14]=op
    cells[41]=error; cells[42]="$name.py failed and --fill-missing too: $reason"
    (IFS=,; echo "${cells[*]}") >> "$CSV"
}

later_budget() {  # seconds promised to the peers after $1
    local seen=0 sum=0 n
    for n in "${ORDER[@]}"; do
        [ $seen = 1 ] && sum=$((sum + BUDGET[$n]))
        [ "$n" = "$1" ] && seen=1
    done
    echo $sum
}

run_peer() {
    local name=$1 now left t rc reason
    now=$(date +%s)
    left=$((START + TOTAL - now))
    t=$((left - $(later_budget "$name") - FILL_RESERVE))
    [ $t -gt $((left - FILL_RESERVE)) ] && t=$((left - FILL_RESERVE))
    echo "---- $name (up to ${t} s; $((now - START)) s into the run)"
    # shellcheck disable=SC2086
    if [ $t -ge 5 ]; then
        timeout -k 5 "$t" "$PY" "$HERE/$name.py" "${common[@]}" ${ARGS[$name]}
        rc=$?
    else
        rc=124
    fi
    [ $rc = 0 ] && return 0
    if [ $rc = 124 ] || [ $rc = 137 ]; then reason="timed out after ${t} s of the run's time budget"; else reason="exit status $rc"; fi
    echo "run_peers: $name: $reason; filling its missing points with error rows"
    # shellcheck disable=SC2086
    t=$((START + TOTAL - $(date +%s))) # the error rows within the run's own deadline
    [ $t -gt 60 ] && t=60
    [ $t -lt 3 ] && t=3
    timeout -k 2 "$t" "$PY" "$HERE/$name.py" "${common[@]}" ${ARGS[$name]} --quiet --fill-missing "$reason" \
        || raw_error_row "$name" "$reason"
}

for name in "${ORDER[@]}"; do
    run_peer "$name"
done

"$PY" - "$CSV" "$SEQBENCH_RUN_ID" <<'PYEOF'
import csv, collections, sys
rows = [r for r in csv.DictReader(open(sys.argv[1], newline="")) if r["run_id"] == sys.argv[2]]
by = collections.Counter((r["backend"], r["status"]) for r in rows)
print(f"run_peers: {len(rows)} rows for run_id {sys.argv[2]}:")
for (backend, status), n in sorted(by.items()):
    print(f"    {backend:12s} {status:8s} {n}")
PYEOF
echo "run_peers: done in $(($(date +%s) - START)) s -> $CSV, $LOG"
exec 1>&- 2>&-
wait "$TEE_PID" 2>/dev/null   # let tee write the last lines before the command returns
exit 0
