#!/usr/bin/env bash
# `make test-slurm`: the SLURM tests (tests/run/test_slurm.py, marker `slurm`) on a real single-node
# cluster. The tests start the cluster themselves (tests/slurm/cluster.sh) and stop it at the end;
# the trap stops it too (by the daemons' recorded pids) if pytest dies or is interrupted.
set -uo pipefail
cd "$(dirname "$0")/../.."
trap 'bash tests/slurm/cluster.sh stop >/dev/null 2>&1' EXIT
trap 'exit 130' INT TERM
start=$(date +%s)
.venv/bin/python -m pytest -m slurm tests/run/test_slurm.py -s -rs "$@"
status=$?
echo "SLURM tests: $(( $(date +%s) - start )) s"
exit $status
