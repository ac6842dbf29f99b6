#!/usr/bin/env bash
# Stop the daemons setup_slurm.sh started, by the PIDs it recorded, and wait until they are gone.
PIDS_FILE="${SLURM_TEST_PIDS:-/run/ernie-test-slurm.pids}"
[ -s "$PIDS_FILE" ] || exit 0
pids=$(cat "$PIDS_FILE")
for pid in $pids; do kill "$pid" 2>/dev/null && echo "stopped $pid"; done
for _ in $(seq 1 60); do
  alive=0; for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
  [ $alive = 0 ] && break; sleep 0.5
done
for pid in $pids; do kill -9 "$pid" 2>/dev/null; done
rm -f "$PIDS_FILE"
