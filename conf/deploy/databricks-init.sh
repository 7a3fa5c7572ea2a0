#!/usr/bin/env bash
# Databricks cluster init script (databricks.yml, job cluster `mlhops`): installs alibi-detect
# 0.11.4, its last Apache-2.0 release, before the mlhops wheel.
#
# Databricks Runtime 18+ runs Python 3.12. alibi-detect 0.11.4 pins numba<0.58, Pillow<10 and
# scikit-image<0.22, none of which has a Python 3.12 wheel, so pip cannot resolve it there; it is
# installed without its pins, and the mlhops wheel (on Python 3.12) requires the modules its
# detectors import instead (numba 0.59+, Pillow 10+, transformers, dill, catalogue, toml, tqdm,
# requests). mlhops refuses to start without alibi-detect 0.11.4 and says so.
set -euo pipefail
PIP="${MLHOPS_CLUSTER_PIP:-/databricks/python/bin/pip}"
"$PIP" install --no-deps "alibi-detect==0.11.4"
