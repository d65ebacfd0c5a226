#!/usr/bin/env bash
# A real single-node SLURM cluster on localhost, for the SLURM tests (tests/run/test_slurm.py).
#
#   tests/slurm/cluster.sh start   install slurm-wlm and munge if missing (Debian, as root),
#                                  write a minimal configuration for one node "localhost"
#                                  (2 CPUs, the machine's memory, partition "local", no
#                                  accounting database), start munged, slurmctld and
#                                  `slurmd -N localhost` by hand (no systemd), wait for the node
#   tests/slurm/cluster.sh stop    stop exactly the daemons `start` started, by their pids
#
# Everything lives in $REBEN_SLURM_DIR (default /tmp/reben-slurm): slurm.conf, the daemons'
# logs and pid files, munge's socket, and jobcomp.log, the job completion log that records every
# job SLURM ran (read with `sacct --completion`). /etc/slurm/slurm.conf is a symbolic link to our
# slurm.conf while the cluster runs (srun inside a job reads the default path: the executor
# plugin drops SLURM_CONF from the job step's environment); an existing slurm.conf of another
# cluster is never replaced (exit 77).
# Exit code 77: SLURM cannot be installed or started here (not root, not Debian, no package);
# the tests are skipped with the line printed on stderr.
set -euo pipefail

STATE=${REBEN_SLURM_DIR:-/tmp/reben-slurm}
CONF=$STATE/slurm.conf
ETC_CONF=/etc/slurm/slurm.conf
PARTITION=local
CPUS=2

cannot() { echo "SLURM not available: $*" >&2; exit 77; }

install_packages() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v sbatch >/dev/null && command -v munged >/dev/null && return 0
    [ "$(id -u)" = 0 ] || cannot "slurm-wlm/munge are not installed and installing them needs root"
    command -v apt-get >/dev/null || cannot "slurm-wlm/munge are not installed and there is no apt-get"
    echo "installing slurm-wlm and munge (apt-get)" >&2
    # Package scripts must not start services: there is no init system here, we start by hand.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge \
        >"$STATE/apt.log" 2>&1 \
        || { apt-get update -qq >>"$STATE/apt.log" 2>&1 \
             && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                slurm-wlm munge >>"$STATE/apt.log" 2>&1; } \
        || cannot "apt-get install slurm-wlm munge failed (see $STATE/apt.log)"
}

write_config() {
    local mem_mb
    # The machine's memory as slurmd itself measures it, so that the node registers cleanly.
    mem_mb=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    [ -n "$mem_mb" ] || cannot "slurmd -C did not report the machine's memory"
    mkdir -p "$STATE/ctld" "$STATE/spool" "$STATE/munge"
    cat >"$CONF" <<EOF
# Written by tests/slurm/cluster.sh: one node, no accounting database.
ClusterName=reben-ci
SlurmctldHost=localhost
SlurmctldPort=${REBEN_SLURMCTLD_PORT:-16817}
SlurmdPort=${REBEN_SLURMD_PORT:-16818}
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$STATE/munge/munge.socket.2
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups without systemd: track processes through /proc, and enforce --mem by polling
# (every second) and killing a step that exceeds it, as a cgroup limit would.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
# No slurmdbd: sacct has no database (the profile's status checks use squeue, see
# profiles/slurm-noaccounting); every finished job is written to the job completion log.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.log
# Finished jobs stay visible to squeue for 5 minutes (the status checks read them there).
MinJobAge=300
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

pid_of() { [ -s "$1" ] && cat "$1" || true; }

start() {
    [ "$(id -u)" = 0 ] || cannot "starting munged, slurmctld and slurmd needs root (CI runs make test-slurm as root)"
    mkdir -p "$STATE"
    [ -z "$(running_pids)" ] || { echo "already running (pids: $(running_pids)); stop first" >&2; exit 1; }
    # A fresh cluster each time: no jobs or completion records left from an earlier start.
    rm -rf "$STATE/ctld" "$STATE/spool" "$STATE/munge" "$STATE/jobcomp.log" "$STATE"/*.log
    install_packages
    write_config
    if [ -e "$ETC_CONF" ] || [ -L "$ETC_CONF" ]; then
        [ "$(readlink "$ETC_CONF")" = "$CONF" ] \
            || cannot "$ETC_CONF belongs to another SLURM cluster; not replacing it"
    else
        mkdir -p "$(dirname "$ETC_CONF")" && ln -s "$CONF" "$ETC_CONF"
    fi

    chown munge: "$STATE/munge" && chmod 0755 "$STATE/munge"
    runuser -u munge -- munged --socket="$STATE/munge/munge.socket.2" \
        --pid-file="$STATE/munge/munged.pid" --log-file="$STATE/munge/munged.log" \
        --seed-file="$STATE/munge/munged.seed" \
        || cannot "munged did not start (see $STATE/munge/munged.log)"
    cp "$STATE/munge/munged.pid" "$STATE/munged.pid"

    slurmctld -f "$CONF" || cannot "slurmctld did not start (see $STATE/slurmctld.log)"
    slurmd -f "$CONF" -N localhost || cannot "slurmd did not start (see $STATE/slurmd.log)"

    # Wait (up to 30 s) for the daemons' pid files and for the node to take jobs.
    local state=""
    for _ in $(seq 60); do
        state=$(sinfo -h -n localhost -o %T 2>/dev/null || true)
        case "$state" in idle*|mixed*|allocated*) break ;; esac
        sleep 0.5
    done
    case "$state" in
        idle*|mixed*|allocated*) ;;
        *) cannot "node localhost is '${state:-unreachable}' (see $STATE/slurmctld.log, $STATE/slurmd.log)" ;;
    esac
    echo "SLURM up: partition $PARTITION, node localhost ($CPUS CPUs), pids $(running_pids), config $CONF" >&2
}

running_pids() {
    local f pid pids=""
    for f in "$STATE/slurmd.pid" "$STATE/slurmctld.pid" "$STATE/munged.pid"; do
        pid=$(pid_of "$f")
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then pids="$pids $pid"; fi
    done
    echo $pids
}

stop() {
    # Only the pids this script recorded, in reverse start order; each waited for.
    local f pid
    for f in "$STATE/slurmd.pid" "$STATE/slurmctld.pid" "$STATE/munged.pid"; do
        pid=$(pid_of "$f")
        [ -n "$pid" ] || continue
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$f"
    done
    if [ "$(readlink "$ETC_CONF" 2>/dev/null)" = "$CONF" ]; then rm -f "$ETC_CONF"; fi
    echo "SLURM stopped" >&2
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
