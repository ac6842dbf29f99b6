#!/usr/bin/env bash
# Bring up a real SLURM on this one host for the tests: munge, slurmctld and two slurmd (fake nodes n1 and
# n2, each with 2 fake GPUs), Debian 12 without systemd (adapted from ../shared/slurm-ci/setup_slurm.sh).
# Usage: bash setup_slurm.sh [cpus_per_node]   (default 4). Writes the PIDs it started to $SLURM_TEST_PIDS
# (default /run/ernie-test-slurm.pids), which stop_slurm.sh reads.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
CPUS="${1:-4}"
PIDS_FILE="${SLURM_TEST_PIDS:-/run/ernie-test-slurm.pids}"
t0=$(date +%s)
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      slurmctld slurmd slurm-client munge >/dev/null
fi
HOST="$(hostname -s)"
MEM=$(( ($(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo) - 1024) / 2 ))  # each fake node half the RAM
# the fake node names resolve to this host (the trainer looks up the first node's address)
for n in n1 n2; do grep -qE "^127\.0\.0\.1[[:space:]].*\b$n\b" /etc/hosts || echo "127.0.0.1 $n" >> /etc/hosts; done
[ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge; chown munge:munge /run/munge /var/log/munge /var/lib/munge
: > "$PIDS_FILE"
if ! pgrep -x munged >/dev/null; then
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 1 20); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
  cat /run/munge/munged.pid >> "$PIDS_FILE"
fi
for i in 0 1; do [ -e /dev/fakegpu$i ] || mknod -m 666 /dev/fakegpu$i c 1 3; done
mkdir -p /etc/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd/n1 /var/lib/slurm/slurmd/n2 /var/log/slurm
sed -e "s/@HOST@/$HOST/g" -e "s/@CPUS@/$CPUS/g" -e "s/@MEM@/$MEM/g" "$HERE/slurm.conf.in" > /etc/slurm/slurm.conf
cp "$HERE/gres.conf.in" /etc/slurm/gres.conf
rm -f /var/log/slurm/jobcomp.log
slurmctld -i
slurmd -N n1
slurmd -N n2
for pf in /run/slurmctld.pid /run/slurmd-n1.pid /run/slurmd-n2.pid; do
  for _ in $(seq 1 50); do [ -s "$pf" ] && break; sleep 0.1; done
  cat "$pf" >> "$PIDS_FILE"
done
# wait until both nodes are idle (fail fast if a daemon died, e.g. on a config 'fatal:')
for _ in $(seq 1 120); do
  for pid in $(cat "$PIDS_FILE"); do
    kill -0 "$pid" 2>/dev/null || { echo "daemon $pid died:"; grep -h fatal /var/log/slurm/*.log | tail -3; exit 1; }
  done
  idle=$(timeout 5 sinfo -h -N -o '%N %T' 2>/dev/null | sort -u | grep -c idle || true)
  [ "$idle" = 2 ] && break
  sleep 0.5
done
timeout 5 sinfo -N -l
[ "$idle" = 2 ] || { echo "nodes not idle"; exit 1; }
echo "slurm up in $(( $(date +%s) - t0 ))s"
