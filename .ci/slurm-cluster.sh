#!/usr/bin/env bash
# A one-node Slurm cluster on this host, for `make test-slurm`: `start` installs Debian's packages if missing,
# writes a minimal slurm.conf (this host's cores and memory, feature `cpu-host`, no accounting storage), starts
# munged, slurmctld and slurmd as root and waits until the node is idle; `stop` ends exactly the daemons it
# started (by their pid files) and removes the slurm.conf it wrote. State, spool and logs: $SLURM_CI_DIR.
set -euo pipefail

DIR=${SLURM_CI_DIR:-/tmp/inferboard-slurm}
CONF=/etc/slurm/slurm.conf  # where sbatch, squeue and sinfo look (the snakemake plugin calls them bare)
MARK="# written by inferboard .ci/slurm-cluster.sh"
NODE=$(hostname -s)

die() { echo "slurm-cluster: $*" >&2; exit 1; }

install_packages() {
  local missing=0 c
  for c in munged slurmctld slurmd sbatch sinfo; do command -v "$c" >/dev/null || missing=1; done
  [ "$missing" = 0 ] && return
  echo "slurm-cluster: installing munge and slurm (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q munge slurmctld slurmd slurm-client
}

write_conf() {
  [ ! -e "$CONF" ] || grep -qxF "$MARK" "$CONF" || die "$CONF exists and is not ours; not overwriting it"
  local cpus mem_mb
  cpus=$(nproc --all)
  # RealMemory a little under the host's (slurmd drains a node that reports less than configured): 5%, at
  # least 512 MiB, left for the OS and the daemons
  mem_mb=$(awk '/^MemTotal:/ {m = int($2 / 1024); r = int(m / 20); if (r < 512) r = 512; print m - r}' /proc/meminfo)
  mkdir -p "$DIR/state" "$DIR/spool" /etc/slurm
  cat >"$CONF" <<EOF
$MARK
ClusterName=inferboard-ci
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
# no slurmdbd: sacct has no job records, the workflow checks jobs with squeue (workflows/profiles/slurm)
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# no cgroups in a container: processes tracked by parent pid, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
# squeue shows a finished job this long; the plugin needs >= 120 s to trust squeue over sacct
MinJobAge=300
NodeName=$NODE CPUs=$cpus RealMemory=$mem_mb Features=cpu-host State=UNKNOWN
PartitionName=ci Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
  echo "slurm-cluster: node $NODE, $cpus CPUs, $mem_mb MB, feature cpu-host ($CONF)"
}

start_munge() {
  # a munged already running (a host's own) is used and left alone
  if munge -n </dev/null >/dev/null 2>&1; then return; fi
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chmod 0400 /etc/munge/munge.key
  mkdir -p /run/munge "$DIR/munge"
  munged --force --pid-file="$DIR/munged.pid" --log-file="$DIR/munged.log" --seed-file="$DIR/munge/seed"
  munge -n </dev/null >/dev/null || die "munged does not answer (see $DIR/munged.log)"
}

wait_idle() {
  local state="" i
  for i in $(seq 1 120); do
    state=$(sinfo -h -N -n "$NODE" -o %t 2>/dev/null || true)
    [ "$state" = idle ] && { echo "slurm-cluster: node $NODE idle after ${i}s"; return; }
    sleep 1
  done
  die "node $NODE is '${state:-unknown}' after 120 s (see $DIR/slurmctld.log and $DIR/slurmd.log)"
}

start() {
  install_packages
  write_conf
  start_munge
  slurmctld -c -f "$CONF"  # -c: no jobs revived from an earlier run's state
  slurmd -f "$CONF"
  wait_idle
}

# the pid in FILE, if that process is still running
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pidfile() {
  local file=$1 pid i
  alive "$file" || { rm -f "$file"; return; }
  pid=$(cat "$file")
  kill "$pid"
  for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
  rm -f "$file"
}

stop() {
  # jobs first (their steps run under slurmd), then the daemons this script started
  if alive "$DIR/slurmctld.pid"; then
    scancel --partition=ci 2>/dev/null || true
    local i
    for i in $(seq 1 30); do
      [ -z "$(squeue -h -p ci -t running,completing,pending 2>/dev/null)" ] && break
      sleep 1
    done
  fi
  stop_pidfile "$DIR/slurmd.pid"
  stop_pidfile "$DIR/slurmctld.pid"
  stop_pidfile "$DIR/munged.pid"
  if [ -e "$CONF" ] && grep -qxF "$MARK" "$CONF"; then rm -f "$CONF"; fi
  echo "slurm-cluster: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
