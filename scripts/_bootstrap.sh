# shellcheck shell=bash
# Sourced by scripts/demo and scripts/test: installs whatever is missing, idempotently.
#  - a virtual environment at .venv/ with the pinned packages and mlhops itself: requirements.lock
#    (requirements.txt's pins with every transitive dependency and its SHA-256, installed with
#    --require-hashes; its header says how to regenerate it after changing requirements.txt)
#  - the Delta Lake jars from Maven Central, cached under $MLHOPS_CACHE (default ~/.cache/mlhops)
#  - the Synthea generator's jars (mlhops generate), from Maven Central into the same cache
# A stamp file records the hash of the inputs, so a set-up machine skips straight to the run.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MLHOPS_VENV:-$REPO_ROOT/.venv}"
export MLHOPS_CACHE="${MLHOPS_CACHE:-$HOME/.cache/mlhops}"
PYTHON_BIN="${MLHOPS_PYTHON:-python3}"

_mlhops_log() { printf '[setup] %s\n' "$*" >&2; }
# Where set-up's and the run's full output goes (pip, Ivy, Spark); the terminal gets one line a step.
MLHOPS_LOG_DIR="${MLHOPS_LOG_DIR:-$REPO_ROOT/logs}"
mkdir -p "$MLHOPS_LOG_DIR"
MLHOPS_SETUP_LOG="$MLHOPS_LOG_DIR/setup.log"

# Run a set-up step with its output in the set-up log; on failure show its tail and say where.
_mlhops_quiet() {
  if ! "$@" >>"$MLHOPS_SETUP_LOG" 2>&1; then
    echo "[setup] FAILED: $*" >&2
    tail -n 25 "$MLHOPS_SETUP_LOG" >&2
    echo "[setup] full log: $MLHOPS_SETUP_LOG" >&2
    exit 2
  fi
}

_mlhops_need_python() {
  "$PYTHON_BIN" - <<'PY' || { echo "mlhops needs Python 3.11 (found $($PYTHON_BIN --version 2>&1)); set MLHOPS_PYTHON" >&2; exit 2; }
import sys
sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)
PY
  command -v java >/dev/null || { echo "mlhops needs a Java 17+ runtime on PATH for Spark (apt-get install openjdk-17-jre-headless)" >&2; exit 2; }
}

# Fail before a multi-GB install that cannot fit: each argument is FOLDER:GIB, what set-up writes
# under that folder; folders on one file system add up. pip's own error (Errno 28, mid-install)
# leaves a half-filled .venv and says nothing of where the space went.
_mlhops_need_disk() {
  local -A need=() where=()
  local pair dir gib mount
  for pair in "$@"; do
    dir="${pair%:*}" gib="${pair##*:}"
    while [[ ! -d "$dir" ]]; do dir="$(dirname "$dir")"; done
    mount="$(df -P "$dir" | awk 'NR==2 {print $6}')"
    need[$mount]=$(( ${need[$mount]:-0} + gib ))
    where[$mount]="${where[$mount]:+${where[$mount]}, }${pair%:*}"
  done
  for mount in "${!need[@]}"; do
    local free_kib free_gib
    free_kib="$(df -Pk "$mount" | awk 'NR==2 {print $4}')"
    free_gib=$(( free_kib / 1024 / 1024 ))
    if (( free_kib < need[$mount] * 1024 * 1024 )); then
      echo "[setup] FAILED: not enough disk space: set-up writes about ${need[$mount]} GiB on $mount (${where[$mount]}) and $free_gib GiB are free." >&2
      echo "[setup] Free space there, or point TMPDIR, PIP_CACHE_DIR or MLHOPS_VENV at a larger disk, then re-run." >&2
      exit 2
    fi
  done
}

_mlhops_stamp() {
  cat "$REPO_ROOT/requirements.txt" "$REPO_ROOT/requirements.lock" "$REPO_ROOT/setup.cfg" \
    "$REPO_ROOT/setup.py" "$REPO_ROOT/pyproject.toml" | sha256sum | cut -c1-16
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
    # The venv holds ~7 GiB (torch and its CUDA libraries); pip caches ~3 GiB of wheels and
    # unpacks the largest of them in TMPDIR. A venv that has torch already only takes updates.
    compgen -G "$VENV/lib/python3*/site-packages/torch" >/dev/null || _mlhops_need_disk "$VENV:7" "${PIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pip}:3" "${TMPDIR:-/tmp}:3"
    _mlhops_log "installing pinned packages (first run downloads torch: several GB, cached by pip)"
    _mlhops_quiet "$VENV/bin/python" -m pip install --upgrade "pip>=24,<26" setuptools wheel
    # Every file checked against the lock's hashes: a tampered or swapped download fails here.
    _mlhops_quiet "$VENV/bin/python" -m pip install --require-hashes --no-deps -r "$REPO_ROOT/requirements.lock"
    # The lock is the whole set: pip check proves nothing it needs is missing or mismatched.
    _mlhops_quiet "$VENV/bin/python" -m pip check
    _mlhops_quiet "$VENV/bin/python" -m pip install --no-deps --no-build-isolation -e "$REPO_ROOT"
    echo "$want" >"$stamp_file"
  fi
  _mlhops_quiet "$VENV/bin/python" -m mlhops.runtime_setup fetch-jars
  # Synthea (synthetic patients for `mlhops generate`): pinned, resolved once into the cache.
  [[ -f "$MLHOPS_CACHE/synthea-jars.json" ]] || _mlhops_log "resolving the Synthea jars (first run: about 200 MB)"
  _mlhops_quiet "$VENV/bin/python" -m mlhops.runtime_setup fetch-synthea
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
    _mlhops_quiet env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    _mlhops_quiet env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  else
    echo "the report tests need Chromium: apt-get install chromium (as root), then re-run" >&2
    exit 2
  fi
}

# Demo populations (Synthea), generated once into $MLHOPS_CACHE/populations/<name>/ and reused:
# the same seed, state and reference date make the same files on any machine. Each folder's
# population.json records the seed, state, versions and the exact command. Usage:
#   mlhops_demo_population VAR LABEL STATE SEED PATIENTS YEARS REFERENCE_DATE
# declares one population (nothing runs yet); mlhops_generate_populations then generates the
# missing ones, side by side (Synthea runs one thread each), and exports each VAR=<folder>/csv.
MLHOPS_POPULATIONS=()
mlhops_demo_population() {
  local state_slug
  state_slug="$(printf '%s' "$3" | tr '[:upper:] ' '[:lower:]-')"
  local dir="$MLHOPS_CACHE/populations/synthea-$state_slug-seed$4-p$5-y$6-${7//-/}"
  MLHOPS_POPULATIONS+=("$1|$2|$3|$4|$5|$6|$7|$dir")
  export "$1=$dir/csv"
}

mlhops_generate_populations() {
  local entry var label state seed n years ref dir pids=() dirs=()
  for entry in "${MLHOPS_POPULATIONS[@]}"; do
    IFS='|' read -r var label state seed n years ref dir <<<"$entry"
    [[ -f "$dir/population.json" && -d "$dir/csv" ]] && continue
    _mlhops_log "generating $label: Synthea, $n patients, $state, seed $seed, $years years to $ref (first run only: ~$(( n * 4 / 10 / 60 + 1 )) min)"
    mkdir -p "$(dirname "$dir")"
    # --force: a folder without population.json is an interrupted run.
    ( "$VENV/bin/mlhops" generate --population "$n" --state "$state" --seed "$seed" \
        --reference-date "$ref" --years-of-history "$years" --out "$dir" --force >"$dir.out" 2>&1 ) &
    pids+=("$!"); dirs+=("$dir")
  done
  local i failed=0
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then failed=1; fi
    # Synthea's own output (DIR/synthea.log) and the one-line outcome go to the set-up log.
    { echo "== mlhops generate -> ${dirs[$i]}"; cat "${dirs[$i]}.out"; cat "${dirs[$i]}/synthea.log" 2>/dev/null; } >>"$MLHOPS_SETUP_LOG"
    rm -f "${dirs[$i]}.out"
  done
  if [[ $failed -ne 0 ]]; then
    echo "[setup] FAILED: generating the demo populations" >&2
    tail -n 25 "$MLHOPS_SETUP_LOG" >&2
    echo "[setup] full log: $MLHOPS_SETUP_LOG" >&2
    exit 2
  fi
}
