#!/usr/bin/env bash
# tests/slurm/cluster.sh: a single-node Slurm cluster on loopback, for tests/slurm/run.sh.
# Sourced. slurm_up DIR starts munged, slurmctld and slurmd (Debian's slurm-wlm and munge) from a
# configuration generated in DIR, every socket on 127.0.0.1, and exports SLURM_CONF; slurm_down
# stops exactly the daemons slurm_up started, by their pids (never by name). cred_expire=10: Slurm
# holds a requeued job back for that long (default 120 s).

SLURM_PIDS=()

# A TCP port nothing listens on at 127.0.0.1 (the daemons bind it a moment later).
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

# Waits until "$@" succeeds, at most $1 seconds.
wait_for() {
  local limit=$1; shift
  for _ in $(seq 1 $((limit * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  return 1
}

slurm_up() {
  local dir=$1 host node
  host=$(hostname -s)
  mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
  chmod 755 "$dir/munge"
  # munged: its own key and socket, foreground (-F) so that $! is its pid
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge/munge.key"
  /usr/sbin/munged -F --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" \
    --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed" --log-file="$dir/log/munged.log" \
    >"$dir/log/munged.out" 2>&1 &
  SLURM_PIDS+=($!)
  wait_for 20 test -S "$dir/munge/munge.sock" || { echo "slurm_up: munged did not start" >&2; return 1; }

  # the node as slurmd sees it (CPUs, sockets, memory), reachable at 127.0.0.1 only
  node=$(/usr/sbin/slurmd -C | head -n 1)
  cat > "$dir/slurm.conf" <<CONF
ClusterName=seqbenchtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
${SLURM_COMM_PARAMS:-CommunicationParameters=NoInAddrAny}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.sock,cred_expire=10
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
$node NodeAddr=127.0.0.1 NodeHostname=$host State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$dir/slurm.conf
  /usr/sbin/slurmctld -D -c -f "$SLURM_CONF" >"$dir/log/slurmctld.out" 2>&1 &
  SLURM_PIDS+=($!)
  /usr/sbin/slurmd -D -f "$SLURM_CONF" >"$dir/log/slurmd.out" 2>&1 &
  SLURM_PIDS+=($!)
  node_idle() { [ "$(sinfo -h -n "$host" -o %T 2>/dev/null)" = idle ]; }
  if ! wait_for 60 node_idle; then
    echo "slurm_up: the node did not become idle in 60 s; sinfo: $(sinfo 2>&1 | tail -n 2)" >&2
    return 1
  fi
}

slurm_down() {
  local pid i
  for ((i = ${#SLURM_PIDS[@]} - 1; i >= 0; i--)); do   # slurmd, slurmctld, then munged
    pid=${SLURM_PIDS[$i]}
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  SLURM_PIDS=()
}
