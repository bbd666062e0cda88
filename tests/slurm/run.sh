#!/usr/bin/env bash
# tests/slurm/run.sh: the sharded sweep through a real Slurm (scripts/slurm/), on one machine.
# Starts munged, slurmctld and slurmd from a generated slurm.conf (tests/slurm/cluster.sh), in a
# private network namespace whose only interface is loopback when `unshare --net` is allowed;
# submits the ci preset as a 3-task array plus the dependent merge job (scripts/slurm/submit.sh,
# no GPU requested), waits at most SLURM_TEST_TIMEOUT seconds (default 300), and checks that the
# merged CSV holds exactly the points of an unsharded ci run, each once, and that every shard
# measured some; then requeues a finished task and checks that it resumes its CSV (no point
# twice). Stops only the daemons it started, by pid. Skips (exit 0, with the reason) only
# where Slurm cannot be installed (scripts/deps.sh slurm). Needs build/seqbench (make) and root.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
export SEQBENCH_BIN=${SEQBENCH_BIN:-$repo/build/seqbench}
case $SEQBENCH_BIN in /*) ;; *) SEQBENCH_BIN=$repo/$SEQBENCH_BIN ;; esac
timeout_s=${SLURM_TEST_TIMEOUT:-300}
say() { echo "slurm test: $*"; }
fail() { say "FAIL: $*"; exit 1; }

if [ "${1:-}" != --in-netns ]; then
  [ -x "$SEQBENCH_BIN" ] || fail "$SEQBENCH_BIN not built (make all)"
  if ! scripts/deps.sh slurm; then
    say "SKIPPED: Slurm and munge cannot be installed on this machine (scripts/deps.sh slurm failed above)"
    exit 0
  fi
  # A network namespace of our own: the daemons can only talk over its loopback.
  if unshare --net true 2>/dev/null; then exec unshare --net "$0" --in-netns; fi
  say "note: unshare --net is not allowed here: running in the host's network namespace (slurmd binds 127.0.0.1, slurmctld all addresses)"
else
  ip link set lo up || fail "cannot bring up loopback in the new network namespace"
  # glibc ignores loopback for AI_ADDRCONFIG with AF_INET: let Slurm ask for any family
  export SLURM_COMM_PARAMS=CommunicationParameters=EnableIPv6
  say "in a private network namespace: $(ip -brief addr | tr -s ' ' | paste -sd ';')"
fi

source tests/slurm/cluster.sh
work=$(mktemp -d /tmp/seqbench-slurm.XXXXXX)
jobs_=()
finish() {
  local rc=$?
  [ ${#jobs_[@]} -eq 0 ] || scancel "${jobs_[@]}" 2>/dev/null || true
  slurm_down
  if [ $rc -ne 0 ]; then
    say "logs follow ($work kept)"
    for f in "$work"/cluster/log/slurmctld.log "$work"/cluster/log/slurmd.log "$work"/out/logs/*; do
      [ -f "$f" ] && { echo "--- $f"; tail -n 25 "$f"; }
    done
  else
    rm -rf "$work"
  fi
  exit $rc
}
trap finish EXIT
trap 'exit 130' INT TERM

slurm_up "$work/cluster" || fail "the cluster did not start"
say "cluster up: $(sinfo -h -o '%P %D nodes %c cpus %T' | head -n 1)"

ids=$(scripts/slurm/submit.sh --shards 3 --gres none --outdir "$work/out" --time=10 -- --preset ci) || fail "submit.sh failed"
sweep=$(sed -n 's/^sweep_job=//p' <<<"$ids")
merge=$(sed -n 's/^merge_job=//p' <<<"$ids")
[ -n "$sweep" ] && [ -n "$merge" ] || fail "submit.sh printed no job ids: $ids"
jobs_=("$sweep" "$merge")
say "submitted: array $sweep (3 tasks), merge $merge after it"

queued() { [ -n "$(squeue -h -j "$sweep,$merge" 2>/dev/null)" ]; }
for ((t = 0; t < timeout_s; t += 2)); do queued || break; sleep 2; done
queued && fail "jobs still queued or running after ${timeout_s} s: $(squeue -h -j "$sweep,$merge")"

state=$(scontrol -o show job "$merge" | grep -o 'JobState=[A-Z_]* .*ExitCode=[0-9:]*' | sed 's/ .* / /')
say "merge job: $state"
[[ $state == "JobState=COMPLETED ExitCode=0:0" ]] || fail "merge job did not complete with exit 0"
for task in 0 1 2; do
  st=$(scontrol -o show job "${sweep}_$task" | grep -o 'JobState=[A-Z_]*')
  [ "$st" = JobState=COMPLETED ] || fail "array task $task: $st"
  rows=$(($(wc -l <"$work/out/shard-$task.csv") - 1))
  [ "$rows" -gt 0 ] || fail "shard $task measured no point"
  say "shard $((task + 1))/3: $rows rows"
done

# Exactly the points of an unsharded run: the plan of the same options without --shard, every key
# once (merge exits 2 on a point twice or one the plan lacks, 1 on one missing), and as many rows.
"$SEQBENCH_BIN" run --preset ci --dry-run >"$work/plan.txt" 2>/dev/null
planned=$(grep -c '|' "$work/plan.txt")
"$SEQBENCH_BIN" merge "$work/check.csv" "$work/out/ci-merged.csv" --plan "$work/plan.txt" >/dev/null \
  || fail "ci-merged.csv is not exactly the unsharded plan (merge --plan exit $?)"
rows=$(($(wc -l <"$work/out/ci-merged.csv") - 1))
[ "$rows" -eq "$planned" ] || fail "ci-merged.csv has $rows rows for $planned planned points"
ls "$work"/out/plots/*.png >/dev/null 2>&1 || fail "the merge job drew no figure"
if "$SEQBENCH_BIN" --help | grep -q '^ *seqbench report'; then
  [ -s "$work/out/ci-merged.md" ] || fail "the merge job wrote no report page"
fi
# A requeued task (node failure, preemption) continues its CSV with --resume: no point twice.
before=$(($(wc -l <"$work/out/shard-0.csv") - 1))
scontrol requeue "${sweep}_0" || fail "scontrol requeue ${sweep}_0 failed"
requeued() { [ "$(scontrol -o show job "${sweep}_0" | grep -o 'JobState=[A-Z_]*')" = JobState=COMPLETED ] &&
             grep -q 'restart 1' "$work/out/logs/sweep-${sweep}_0.out"; }
for ((t = 0; t < timeout_s; t += 2)); do requeued && break; sleep 2; done
requeued || fail "the requeued task 0 did not run again in ${timeout_s} s"
grep -q "resume: $before points were already in" "$work/out/logs/sweep-${sweep}_0.out" \
  || fail "the requeued task did not resume its CSV"
rows=$(($(wc -l <"$work/out/shard-0.csv") - 1))
[ "$rows" -eq "$before" ] || fail "shard 1/3 holds $rows rows after the requeue, not $before"
say "requeued task 0 resumed its CSV: still $rows rows"
rows=$(($(wc -l <"$work/out/ci-merged.csv") - 1))
say "PASS: 3 shards merged into $rows rows = the $planned points of the unsharded ci plan, each once"
