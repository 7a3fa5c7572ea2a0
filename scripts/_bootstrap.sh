# shellcheck shell=bash
# Sourced by scripts/demo and scripts/test: installs whatever is missing, idempotently.
#  - a virtual environment at .venv/ with the pinned packages (requirements.txt) and mlhops itself
#  - the Delta Lake jars from Maven Central, cached under $MLHOPS_CACHE (default ~/.cache/mlhops)
# A stamp file records the hash of the inputs, so a set-up machine skips straight to the run.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MLHOPS_VENV:-$REPO_ROOT/.venv}"
export MLHOPS_CACHE="${MLHOPS_CACHE:-$HOME/.cache/mlhops}"
PYTHON_BIN="${MLHOPS_PYTHON:-python3}"

_mlhops_log() { printf '[setup] %s\n' "$*" >&2; }

_mlhops_need_python() {
  "$PYTHON_BIN" - <<'PY' || { echo "mlhops needs Python 3.11 (found $($PYTHON_BIN --version 2>&1)); set MLHOPS_PYTHON" >&2; exit 2; }
import sys
sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)
PY
  command -v java >/dev/null || { echo "mlhops needs a Java 17+ runtime on PATH for Spark (apt-get install openjdk-17-jre-headless)" >&2; exit 2; }
}

_mlhops_stamp() {
  cat "$REPO_ROOT/requirements.txt" "$REPO_ROOT/setup.cfg" "$REPO_ROOT/pyproject.toml" | sha256sum | cut -c1-16
}

mlhops_setup() {
  _mlhops_need_python
  local stamp_file="$VENV/.mlhops-stamp" want
  want="$(_mlhops_stamp)"
  if [[ ! -x "$VENV/bin/python" ]]; then
    _mlhops_log "creating virtual environment at $VENV"
    "$PYTHON_BIN" -m venv "$VENV"
  fi
  if [[ ! -f "$stamp_file" || "$(cat "$stamp_file")" != "$want" ]]; then
    _mlhops_log "installing pinned packages (first run downloads torch: several GB, cached by pip)"
    "$VENV/bin/python" -m pip install --quiet --upgrade "pip>=24,<26" setuptools wheel
    "$VENV/bin/python" -m pip install --quiet -r "$REPO_ROOT/requirements.txt"
    "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$REPO_ROOT"
    echo "$want" >"$stamp_file"
  fi
  "$VENV/bin/python" -m mlhops.runtime_setup fetch-jars
  export PATH="$VENV/bin:$PATH"
  export PYSPARK_PYTHON="$VENV/bin/python"
  export PYSPARK_DRIVER_PYTHON="$VENV/bin/python"
}

# Headless Chromium (Debian package) for the report rendering test and the screenshot script.
mlhops_setup_browser() {
  if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
    return 0
  fi
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    _mlhops_log "installing Debian's chromium (headless report tests)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "the report tests need Chromium: apt-get install chromium (as root), then re-run" >&2
    exit 2
  fi
}
