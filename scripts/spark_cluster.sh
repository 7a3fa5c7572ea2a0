#!/usr/bin/env bash
# A Spark standalone cluster on this machine: one master and two workers, each its own JVM, so
# `mlhops nightly` can run against spark://... the way it runs on a real cluster (separate
# executor JVMs and executor Python processes; nothing shared with the driver but the disk).
#
#   scripts/spark_cluster.sh start DIR   starts the master and two workers; prints the master URL
#                                        (spark://HOST:PORT) on stdout once both workers registered
#   scripts/spark_cluster.sh connect DIR starts a Spark Connect server on that cluster (its own
#                                        driver JVM, Delta from the cached jars); prints its
#                                        sc://HOST:PORT once it accepts clients
#   scripts/spark_cluster.sh stop DIR    stops exactly the JVMs started in DIR (and their executors)
#
# Everything lives under DIR: logs/ (one log per daemon), pid files, work-N/ (SPARK_WORKER_DIR:
# the executors' working directories and stdout/stderr), local-N/ (SPARK_LOCAL_DIRS: shuffle and
# spill), conf/ (an empty SPARK_CONF_DIR, so no stray spark-defaults.conf applies). The master's
# web UI answers at the URL in DIR/master.webui (its /json lists workers and applications); each
# worker's at DIR/worker-N.webui.
#
# The pip pyspark ships bin/spark-class but not sbin/start-master.sh / start-worker.sh, so the
# daemons are started with spark-class (which execs java: the pid recorded is the JVM's).
#
# Environment:
#   SPARK_HOME               Spark to use (default: the pyspark of the repo's .venv)
#   PYSPARK_PYTHON           Python of the executors (default: the repo's .venv/bin/python)
#   MLHOPS_CLUSTER_HOST      address the daemons bind to (default 127.0.0.1)
#   MLHOPS_CLUSTER_CORES     cores per worker (default 1)
#   MLHOPS_CLUSTER_MEMORY    memory per worker for executors (default 1536m)
#   MLHOPS_CLUSTER_TIMEOUT   seconds to wait for both workers (or the Connect server) (default 120)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N_WORKERS=2
HOST="${MLHOPS_CLUSTER_HOST:-127.0.0.1}"
CORES="${MLHOPS_CLUSTER_CORES:-1}"
MEMORY="${MLHOPS_CLUSTER_MEMORY:-1536m}"
TIMEOUT="${MLHOPS_CLUSTER_TIMEOUT:-120}"
# The daemons themselves need little: executors get their memory from MLHOPS_CLUSTER_MEMORY.
DAEMON_MEMORY="${SPARK_DAEMON_MEMORY:-512m}"

say() { printf '[spark-cluster] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

python_bin() {
  if [[ -x "$REPO_ROOT/.venv/bin/python" ]]; then echo "$REPO_ROOT/.venv/bin/python"; else echo python3; fi
}

spark_home() {
  if [[ -n "${SPARK_HOME:-}" ]]; then echo "$SPARK_HOME"; return; fi
  "$(python_bin)" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))' \
    || die "no SPARK_HOME and no pyspark in $(python_bin)"
}

# N free TCP ports on HOST (the kernel picks them; all held open together so they differ).
free_ports() {
  "$(python_bin)" - "$HOST" "$1" <<'PY'
import socket, sys
host, n = sys.argv[1], int(sys.argv[2])
socks = []
for _ in range(n):
    s = socket.socket()
    s.bind((host, 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# The JVMs of DIR carry this system property, so a pid file is only trusted when the process
# behind it still has it (a reused pid never gets killed).
tag_of() { echo "-Dmlhops.cluster.dir=$1"; }

# 0 when PID is alive and its command line carries DIR's tag.
is_ours() {
  local pid="$1" dir="$2"
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "$(tag_of "$dir")"
}

# Pids of processes working inside DIR's worker folders: the executor JVMs and their Python
# workers (Spark starts each executor with its app folder under SPARK_WORKER_DIR as cwd).
executor_pids() {
  local dir="$1" p cwd
  for p in /proc/[0-9]*; do
    cwd="$(readlink "$p/cwd" 2>/dev/null)" || continue
    [[ "$cwd" == "$dir"/work-* ]] && echo "${p#/proc/}"
  done
  return 0
}

stop_pid() {
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  say "pid $pid did not stop in 10s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

cmd_stop() {
  local dir="$1" f pid name
  [[ -d "$dir" ]] || { say "no cluster folder $dir: nothing to stop"; return 0; }
  dir="$(cd "$dir" && pwd -P)"
  # The Connect server (a driver), then the workers (each stops its executors), then the master.
  for f in "$dir"/connect.pid "$dir"/worker-*.pid "$dir"/master.pid; do
    [[ -f "$f" ]] || continue
    pid="$(cat "$f")"
    name="$(basename "$f" .pid)"
    if [[ "$pid" =~ ^[0-9]+$ ]] && is_ours "$pid" "$dir"; then
      say "stopping $name (pid $pid)"
      stop_pid "$pid"
    else
      say "$name: stale pid file (pid ${pid:-?} is not one of this cluster's JVMs); removed"
    fi
    rm -f "$f"
  done
  for pid in $(executor_pids "$dir"); do
    say "stopping executor process $pid left in $dir"
    stop_pid "$pid"
  done
}

# Wait until the master's /json lists N alive workers; on failure say which log to read.
wait_for_workers() {
  local dir="$1" webui="$2" deadline=$((SECONDS + TIMEOUT)) alive=0 f pid
  while ((SECONDS < deadline)); do
    for f in "$dir"/master.pid "$dir"/worker-*.pid; do
      pid="$(cat "$f")"
      if ! kill -0 "$pid" 2>/dev/null; then
        tail -n 20 "$dir/logs/$(basename "$f" .pid).log" >&2 || true
        cmd_stop "$dir"
        die "$(basename "$f" .pid) exited during start-up; see $dir/logs/$(basename "$f" .pid).log"
      fi
    done
    alive="$("$(python_bin)" - "$webui/json" <<'PY' 2>/dev/null || echo 0
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    status = json.load(r)
print(sum(1 for w in status.get("workers", []) if w.get("state") == "ALIVE"))
PY
)"
    if ((alive >= N_WORKERS)); then return 0; fi
    sleep 1
  done
  tail -n 20 "$dir/logs/master.log" >&2 || true
  cmd_stop "$dir"
  die "only $alive of $N_WORKERS workers registered with the master in ${TIMEOUT}s; see $dir/logs/master.log and $dir/logs/worker-*.log"
}

cmd_start() {
  local dir="$1" f pid
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd -P)"
  # Leftovers of an earlier run: a live cluster is an error, stale pid files are cleared.
  for f in "$dir"/master.pid "$dir"/worker-*.pid; do
    [[ -f "$f" ]] || continue
    pid="$(cat "$f")"
    if [[ "$pid" =~ ^[0-9]+$ ]] && is_ours "$pid" "$dir"; then
      die "a cluster is already running from $dir ($(basename "$f" .pid), pid $pid): run '$0 stop $dir' first"
    fi
    say "removing stale pid file $f"
    rm -f "$f"
  done
  local home python
  home="$(spark_home)"
  python="${PYSPARK_PYTHON:-$(python_bin)}"
  [[ -x "$home/bin/spark-class" ]] || die "$home/bin/spark-class not found (set SPARK_HOME)"
  mkdir -p "$dir/logs" "$dir/conf"
  # master port, master web UI, then a port and a web UI port per worker
  local ports
  read -r -a ports <<<"$(free_ports $((2 + 2 * N_WORKERS)))"
  local url="spark://$HOST:${ports[0]}" webui="http://$HOST:${ports[1]}"
  local -a common_env=(
    SPARK_HOME="$home" SPARK_CONF_DIR="$dir/conf" SPARK_LOG_DIR="$dir/logs" SPARK_PID_DIR="$dir"
    SPARK_DAEMON_MEMORY="$DAEMON_MEMORY" SPARK_DAEMON_JAVA_OPTS="$(tag_of "$dir")"
    PYSPARK_PYTHON="$python"
  )
  say "starting master $url (web UI $webui), logs in $dir/logs"
  env "${common_env[@]}" nohup "$home/bin/spark-class" org.apache.spark.deploy.master.Master \
    --host "$HOST" --port "${ports[0]}" --webui-port "${ports[1]}" \
    >"$dir/logs/master.log" 2>&1 </dev/null &
  echo $! >"$dir/master.pid"
  local i port wport
  for i in $(seq 1 "$N_WORKERS"); do
    port="${ports[$((2 * i))]}"
    wport="${ports[$((2 * i + 1))]}"
    mkdir -p "$dir/work-$i" "$dir/local-$i"
    say "starting worker-$i ($CORES core, $MEMORY; web UI http://$HOST:$wport)"
    env "${common_env[@]}" SPARK_WORKER_DIR="$dir/work-$i" SPARK_LOCAL_DIRS="$dir/local-$i" \
      nohup "$home/bin/spark-class" org.apache.spark.deploy.worker.Worker \
      --host "$HOST" --port "$port" --webui-port "$wport" --cores "$CORES" --memory "$MEMORY" \
      --work-dir "$dir/work-$i" "$url" \
      >"$dir/logs/worker-$i.log" 2>&1 </dev/null &
    echo $! >"$dir/worker-$i.pid"
    echo "http://$HOST:$wport" >"$dir/worker-$i.webui"
  done
  echo "$url" >"$dir/master.url"
  echo "$webui" >"$dir/master.webui"
  wait_for_workers "$dir" "$webui"
  say "master and $N_WORKERS workers up"
  echo "$url"
}

# A Spark Connect server as a driver of DIR's cluster: clients reach it at sc://HOST:PORT
# (SPARK_REMOTE) and run no JVM of their own. The server holds the configuration a client cannot
# send: Delta's extension and catalog, the Delta jars (spark.jars ships them to the executors),
# the executors' Python, the session time zone.
cmd_connect() {
  local dir="$1" home python url jars port pid deadline
  dir="$(cd "$dir" && pwd -P)"
  [[ -f "$dir/master.url" && -f "$dir/master.pid" ]] && is_ours "$(cat "$dir/master.pid")" "$dir" \
    || die "no cluster running from $dir: run '$0 start $dir' first"
  if [[ -f "$dir/connect.pid" ]] && is_ours "$(cat "$dir/connect.pid")" "$dir"; then
    die "a Connect server is already running from $dir (pid $(cat "$dir/connect.pid"))"
  fi
  home="$(spark_home)"
  python="${PYSPARK_PYTHON:-$(python_bin)}"
  url="$(cat "$dir/master.url")"
  jars="$("$python" -c 'from mlhops.runtime_setup import cached_delta_jars; print(",".join(cached_delta_jars() or []))')" \
    || die "mlhops is not importable by $python"
  [[ -n "$jars" ]] || die "the Delta jars are not cached: run scripts/demo or '$python -m mlhops.runtime_setup fetch-jars' once"
  port="$(free_ports 1)"
  say "starting a Spark Connect server on $url (sc://$HOST:$port), log in $dir/logs/connect.log"
  env SPARK_HOME="$home" SPARK_CONF_DIR="$dir/conf" PYSPARK_PYTHON="$python" TZ=UTC \
    SPARK_SUBMIT_OPTS="$(tag_of "$dir")" \
    nohup "$home/bin/spark-class" org.apache.spark.deploy.SparkSubmit \
    --class org.apache.spark.sql.connect.service.SparkConnectServer --name mlhops-connect-server \
    --master "$url" --driver-memory 1g --executor-memory 1g --jars "$jars" \
    --conf spark.connect.grpc.binding.address="$HOST" --conf spark.connect.grpc.binding.port="$port" \
    --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
    --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
    --conf spark.sql.session.timeZone=UTC --conf spark.pyspark.python="$python" \
    --conf spark.ui.enabled=false --conf spark.local.dir="$dir/local-connect" \
    spark-internal >"$dir/logs/connect.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$dir/connect.pid"
  deadline=$((SECONDS + TIMEOUT))
  until "$python" -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 2).close()' \
      "$HOST" "$port" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$dir/logs/connect.log" >&2 || true
      die "the Connect server exited during start-up; see $dir/logs/connect.log"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 20 "$dir/logs/connect.log" >&2 || true
      die "the Connect server did not accept clients in ${TIMEOUT}s; see $dir/logs/connect.log"
    fi
    sleep 1
  done
  echo "sc://$HOST:$port" >"$dir/connect.url"
  say "Spark Connect server up"
  echo "sc://$HOST:$port"
}

usage() { echo "usage: $0 {start|connect|stop} DIR" >&2; exit 2; }

[[ $# -eq 2 ]] || usage
case "$1" in
  start) cmd_start "$2" ;;
  connect) cmd_connect "$2" ;;
  stop) cmd_stop "$2" ;;
  *) usage ;;
esac
