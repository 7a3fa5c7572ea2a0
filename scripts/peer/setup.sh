#!/usr/bin/env bash
# Set-up for the peer ETL benchmark (scripts/bench_peer.py): a separate virtualenv with the
# pinned dbt toolchain. All installs happen here, never during a benchmark run.
# Usage: scripts/peer/setup.sh [PYTHON]   (default python3.11; creates <repo>/.venv-peer)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
PY="${1:-python3.11}"
VENV="$REPO/.venv-peer"
if [ ! -x "$VENV/bin/dbt" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet -r "$REPO/scripts/peer/requirements.txt"
fi
"$VENV/bin/dbt" --version
