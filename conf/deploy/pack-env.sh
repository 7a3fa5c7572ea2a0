#!/usr/bin/env bash
# Packs the Python environment a YARN or Kubernetes job runs in: Python 3.11 with the hashed
# lock (requirements.lock, whose pyspark/delta-spark must match the cluster's Spark) and the mlhops
# wheel, as one relocatable archive (venv-pack) that spark-submit ships with --archives.
#   conf/deploy/pack-env.sh [OUT]        (default OUT: dist/mlhops-env.tar.gz)
# Run it on the same OS and CPU architecture as the cluster nodes.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:-$REPO_ROOT/dist/mlhops-env.tar.gz}"
PYTHON_BIN="${MLHOPS_PYTHON:-python3.11}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

mkdir -p "$(dirname "$OUT")"
"$PYTHON_BIN" -m venv "$WORK/env"
"$WORK/env/bin/python" -m pip install --quiet --require-hashes --no-deps -r "$REPO_ROOT/requirements.lock"
"$WORK/env/bin/python" -m pip wheel --quiet --no-deps --no-build-isolation -w "$WORK/dist" "$REPO_ROOT"
"$WORK/env/bin/python" -m pip install --quiet --no-deps "$WORK"/dist/mlhops-*.whl
"$WORK/env/bin/python" -m pip check
# venv-pack is a build tool only: it lives in its own environment, not in the packed one.
"$PYTHON_BIN" -m venv "$WORK/tools"
"$WORK/tools/bin/python" -m pip install --quiet "venv-pack>=0.2,<0.3"
# The archive links to the base Python 3.11 at the same path on the nodes; where it lives
# elsewhere there, set MLHOPS_TARGET_PYTHON_PREFIX (e.g. /opt/python3.11).
"$WORK/tools/bin/venv-pack" -p "$WORK/env" -o "$OUT" --force \
  ${MLHOPS_TARGET_PYTHON_PREFIX:+--python-prefix "$MLHOPS_TARGET_PYTHON_PREFIX"}
echo "packed $OUT" >&2
