"""A Spark standalone cluster on this machine (scripts/spark_cluster.sh: a master and two workers,
each its own JVM) and one `mlhops nightly` run against it through the console script, the way
spark-submit or a scheduler would start it: a separate process, the cluster overlay, settings
from the environment, and a working directory that is not the checkout. Then a Spark Connect
server started on the same cluster, and a CLI verb run as its remote client (``sc://``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

CLUSTER_SCRIPT = REPO / "scripts" / "spark_cluster.sh"
SAMPLE = REPO / "data" / "sample" / "synthea27_csv"
TEST_OVERLAY = Path(__file__).with_name("cluster-test.yaml")
# Generous bounds: a hung start-up or run fails the test instead of the CI's wall clock.
START_TIMEOUT_S = 180
NIGHTLY_TIMEOUT_S = 900
# Not UTC, with a daylight-saving switch: a machine zone leaking into the data would show.
WORKER_TZ = "America/Los_Angeles"
# The suite runs the stages whose work is most on the executors (CSV parsing, the keyed-hash
# pandas UDF, id assignment, Delta writes; features), about 3 minutes on 2 cores; the whole
# nightly takes about 9 (MLHOPS_TEST_CLUSTER_FULL=1, which scripts/test_cluster sets).
FULL = os.environ.get("MLHOPS_TEST_CLUSTER_FULL") == "1"
SUITE_STAGES: tuple[str, ...] = ("etl", "features")


def stages_run() -> list[str]:
    """The nightly stages this session runs on the cluster (in the nightly's order)."""
    from mlhops.pipelines import nightly_stages

    return list(nightly_stages()) if FULL else [s for s in nightly_stages() if s in SUITE_STAGES]


@dataclass(frozen=True)
class Cluster:
    """A running standalone cluster: its folder, master URL and the web UIs' JSON endpoints."""

    dir: Path
    master_url: str
    master_webui: str
    worker_webuis: tuple[str, ...]

    def status(self, webui: str) -> dict[str, Any]:
        """The /json status page of the master or a worker (its REST view of itself)."""
        with urllib.request.urlopen(f"{webui}/json", timeout=10) as resp:
            return json.load(resp)


@dataclass(frozen=True)
class ClusterRun:
    """What one `mlhops nightly` against the cluster left behind."""

    cluster: Cluster
    warehouse: Path
    exit_code: int
    run_id: str
    log_file: Path
    event_log_dir: Path
    master_status: dict[str, Any]
    worker_statuses: tuple[dict[str, Any], ...]
    overlay: Path
    cwd: Path
    env: dict[str, str]


def layered_overlay(out: Path) -> Path:
    """conf/env/cluster.yaml with tests/spark/cluster/cluster-test.yaml merged on top, as one overlay
    file (``--conf`` takes one; the merge is the loader's own ``deep_merge``)."""
    from mlhops.config.loader import deep_merge

    cluster = yaml.safe_load((REPO / "conf" / "env" / "cluster.yaml").read_text(encoding="utf-8"))
    test = yaml.safe_load(TEST_OVERLAY.read_text(encoding="utf-8"))
    out.write_text(yaml.safe_dump(deep_merge(cluster, test), sort_keys=False), encoding="utf-8")
    return out


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"({path} not written)"


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory) -> Cluster:
    """Master + two workers (1 core, 1.5 GB each) started by scripts/spark_cluster.sh, stopped
    (exactly those JVMs) after the module."""
    cdir = tmp_path_factory.mktemp("spark-cluster")
    # The workers, and so their executors and Python workers, live in another time zone than the
    # driver: as on a real cluster, nothing may depend on the zone of the machine a task runs on.
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "TZ": WORKER_TZ}
    started = subprocess.run(
        [str(CLUSTER_SCRIPT), "start", str(cdir)], env=env, capture_output=True, text=True,
        timeout=START_TIMEOUT_S,
    )
    try:
        assert started.returncode == 0, f"cluster did not start:\n{started.stderr}"
        workers = tuple(sorted(p.read_text().strip() for p in cdir.glob("worker-*.webui")))
        yield Cluster(cdir, started.stdout.strip(), (cdir / "master.webui").read_text().strip(), workers)
    finally:
        subprocess.run([str(CLUSTER_SCRIPT), "stop", str(cdir)], env=env, capture_output=True,
                       text=True, timeout=120)


@pytest.fixture(scope="module")
def cluster_nightly(standalone_cluster: Cluster, tmp_path_factory) -> ClusterRun:
    """`mlhops nightly --conf <cluster.yaml + cluster-test.yaml>` on the shipped sample against
    the standalone master, run from an empty working directory."""
    run_dir = tmp_path_factory.mktemp("cluster-run")
    (run_dir / "eventlog").mkdir()
    cwd = run_dir / "cwd"
    cwd.mkdir()
    warehouse = run_dir / "warehouse"
    overlay = layered_overlay(run_dir / "cluster-test-layered.yaml")
    log_file = run_dir / "nightly.log"
    run_id = "cluster-1"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLHOPS_", "MLFLOW_"))}
    env.update({
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "MLHOPS_WAREHOUSE": str(warehouse),
        "MLFLOW_TRACKING_URI": f"sqlite:///{run_dir / 'mlflow.db'}",
        "MLHOPS_VOCAB_DIR": str(REPO / "data" / "vocabulary"),
        # The salt comes through the secret reference the cluster overlay names, never from YAML.
        "MLHOPS_DEID_SALT_SECRET": "env:MLHOPS_TEST_CLUSTER_SALT",
        "MLHOPS_TEST_CLUSTER_SALT": os.urandom(16).hex(),
        "MLHOPS_TEST_SPARK_MASTER": standalone_cluster.master_url,
        "MLHOPS_TEST_CLUSTER_RUN": str(run_dir),
        "MLHOPS_TEST_CLUSTER_INPUT": str(SAMPLE),
    })
    mlhops = Path(sys.executable).with_name("mlhops")
    proc = subprocess.run(
        [str(mlhops), "nightly", "--conf", str(overlay), "--run-id", run_id, "--log-file", str(log_file),
         *([] if FULL else [a for s in SUITE_STAGES for a in ("--only", s)])],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=NIGHTLY_TIMEOUT_S,
    )
    if proc.returncode not in (0, 3):
        pytest.fail(f"mlhops nightly exited {proc.returncode}\nstdout:\n{proc.stdout}\n"
                    f"stderr:\n{proc.stderr[-4000:]}\nlog tail:\n{_tail(log_file)}")
    return ClusterRun(
        cluster=standalone_cluster,
        warehouse=warehouse,
        exit_code=proc.returncode,
        run_id=run_id,
        log_file=log_file,
        event_log_dir=run_dir / "eventlog",
        master_status=standalone_cluster.status(standalone_cluster.master_webui),
        worker_statuses=tuple(standalone_cluster.status(w) for w in standalone_cluster.worker_webuis),
        overlay=overlay,
        cwd=cwd,
        env=env,
    )


@pytest.fixture(scope="module")
def connect_quality(standalone_cluster: Cluster, cluster_nightly: ClusterRun) -> ClusterRun:
    """`mlhops quality` on the nightly's warehouse as a client of a remote Spark Connect server:
    ``scripts/spark_cluster.sh connect`` starts the server as a driver of the standalone cluster
    (its own JVM, Delta from the cached jars; its URL in ``<cluster dir>/connect.url``); the CLI
    process only holds ``SPARK_REMOTE=sc://...`` and the same overlay and environment as the nightly."""
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    started = subprocess.run([str(CLUSTER_SCRIPT), "connect", str(standalone_cluster.dir)], env=env,
                             capture_output=True, text=True, timeout=START_TIMEOUT_S)
    assert started.returncode == 0, f"the Connect server did not start:\n{started.stderr}"
    url = started.stdout.strip()
    run_id, log_file = "cluster-connect-1", cluster_nightly.log_file.with_name("connect-quality.log")
    mlhops = Path(sys.executable).with_name("mlhops")
    proc = subprocess.run(
        [str(mlhops), "quality", "--conf", str(cluster_nightly.overlay), "--run-id", run_id, "--log-file",
         str(log_file)],
        cwd=cluster_nightly.cwd, env={**cluster_nightly.env, "SPARK_REMOTE": url}, capture_output=True, text=True,
        timeout=NIGHTLY_TIMEOUT_S,
    )
    if proc.returncode not in (0, 3):
        pytest.fail(f"mlhops quality through {url} exited {proc.returncode}\nstdout:\n{proc.stdout}\n"
                    f"stderr:\n{proc.stderr[-4000:]}\nlog tail:\n{_tail(log_file)}\nserver log tail:\n"
                    f"{_tail(standalone_cluster.dir / 'logs' / 'connect.log')}")
    return replace(
        cluster_nightly, exit_code=proc.returncode, run_id=run_id, log_file=log_file,
        master_status=standalone_cluster.status(standalone_cluster.master_webui),
        worker_statuses=tuple(standalone_cluster.status(w) for w in standalone_cluster.worker_webuis),
    )


@pytest.fixture(scope="module")
def local_etl_warehouse(synthea27) -> Path:
    """The reference for the cluster run's OMOP row counts: the session's ``local[*]`` ETL of
    the same 27 patients (``synthea27``: ../shared's copy of the shipped sample, file for file)."""
    return Path(synthea27.settings.warehouse)
