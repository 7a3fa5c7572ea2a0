"""`mlhops nightly` on a real Spark standalone cluster (issue 18): a master and two workers in
their own JVMs, executors and their Python workers in processes of their own, the cluster
overlay, and nothing shared with the driver but the disk.

``scripts/test`` (and so CI) runs the etl and features stages there, about 4.5 minutes on 2 cores;
``scripts/test_cluster`` runs the whole nightly (``MLHOPS_TEST_CLUSTER_FULL=1``), as the README's
"Second machine" step does by hand."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from mlhops.io import Catalog, read_table
from mlhops.io.tables.core import RUNS
from mlhops.io.tables.operations import QUALITY_RESULTS
from tests.spark.cluster.conftest import SAMPLE, ClusterRun, stages_run

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

# Physical operators that run Python on the executors: the de-identification HMAC (pandas UDF),
# scoring (mapInPandas) and univariate drift tests (applyInPandas).
PYTHON_OPERATORS = ("ArrowEvalPython", "MapInPandas", "FlatMapGroupsInPandas")
# Stages that need a trained model, which the 27-patient sample cannot give.
MODEL_STAGES = {"train", "score", "evaluate"}


def _events(run: ClusterRun) -> Iterator[dict[str, Any]]:
    """The events of the run's one application (Spark's JSON-lines event log)."""
    logs = list(run.event_log_dir.iterdir())
    assert len(logs) == 1, f"expected one application's event log, found {[p.name for p in logs]}"
    # one file, or (spark.eventLog.rolling.enabled) a folder of events_<n>_<app> files
    parts = sorted(logs[0].glob("events_*"), key=lambda p: int(p.name.split("_")[1])) \
        if logs[0].is_dir() else logs
    for part in parts:
        with part.open(encoding="utf-8") as fh:
            for line in fh:
                yield json.loads(line)


def _app_id(run: ClusterRun) -> str:
    apps = [a for a in run.master_status["completedapps"] + run.master_status["activeapps"]
            if a["name"] == "mlhops-cluster-test"]
    assert len(apps) == 1, f"the master knows {len(apps)} mlhops applications"
    return str(apps[0]["id"])


def _delta_counts(spark, warehouse: Path, zone: str) -> dict[str, int]:
    """Rows of every Delta table under ``<warehouse>/<zone>``."""
    tables = sorted(p for p in (warehouse / zone).iterdir() if (p / "_delta_log").is_dir())
    return {t.name: spark.read.format("delta").load(str(t)).count() for t in tables}


def test_nightly_against_the_standalone_master_runs_every_stage(cluster_nightly, spark):
    assert cluster_nightly.exit_code in (0, 3)
    runs = read_table(spark, Catalog(str(cluster_nightly.warehouse)), RUNS)
    statuses = {r.stage: r.status for r in runs.where(f"run_id = '{cluster_nightly.run_id}'").collect()}
    assert set(statuses) == set(stages_run())
    assert not {s: st for s, st in statuses.items() if st == "failed"}
    # 27 patients hold too few labelled stays to train a model, so the model stages (train,
    # score, evaluate) skip, as they do in a local run of the sample; every other stage
    # does its work on the cluster
    did_work = {s for s, st in statuses.items() if st in ("ok", "alerts")}
    assert did_work >= set(stages_run()) - MODEL_STAGES


def test_the_cluster_writes_one_person_per_sample_patient(cluster_nightly, spark):
    with (SAMPLE / "patients.csv").open(encoding="utf-8", newline="") as fh:
        patients = {row["Id"] for row in csv.DictReader(fh)}
    assert _delta_counts(spark, cluster_nightly.warehouse, "omop")["person"] == len(patients) > 0


def test_omop_tables_hold_the_rows_a_local_run_writes(cluster_nightly, local_etl_warehouse, spark):
    cluster = _delta_counts(spark, cluster_nightly.warehouse, "omop")
    local = _delta_counts(spark, local_etl_warehouse, "omop")
    assert cluster == local
    assert sum(cluster.values()) > 0


def test_both_workers_registered_and_ran_executors_of_the_run(cluster_nightly):
    master = cluster_nightly.master_status
    assert sorted(w["state"] for w in master["workers"]) == ["ALIVE", "ALIVE"]
    app = _app_id(cluster_nightly)
    per_worker = [
        {e["id"] for e in w["executors"] + w["finishedexecutors"] if e["appid"] == app}
        for w in cluster_nightly.worker_statuses
    ]
    assert len(per_worker) == 2 and all(per_worker), per_worker


def test_tasks_ran_on_the_executors_of_both_workers(cluster_nightly):
    app = _app_id(cluster_nightly)
    # executor id -> the web UI port of the worker that launched it (from its log URL)
    worker_of: dict[str, int] = {}
    tasks_by_executor: dict[str, int] = {}
    python_plans = 0
    for ev in _events(cluster_nightly):
        kind = ev["Event"]
        if kind == "SparkListenerExecutorAdded":
            stdout = urlparse(ev["Executor Info"]["Log Urls"]["stdout"])
            assert parse_qs(stdout.query)["appId"] == [app]
            worker_of[ev["Executor ID"]] = stdout.port
        elif kind == "SparkListenerTaskEnd" and ev["Task End Reason"]["Reason"] == "Success":
            ex = ev["Task Info"]["Executor ID"]
            tasks_by_executor[ex] = tasks_by_executor.get(ex, 0) + 1
        elif kind.endswith("SparkListenerSQLExecutionStart"):
            python_plans += any(op in ev.get("physicalPlanDescription", "") for op in PYTHON_OPERATORS)
    # no task ran in the driver: every one on an executor a worker launched
    assert tasks_by_executor and set(tasks_by_executor) <= set(worker_of)
    worker_ports = {urlparse(w).port for w in cluster_nightly.cluster.worker_webuis}
    assert {worker_of[ex] for ex in tasks_by_executor} == worker_ports
    # Python ran in the executors' own Python workers (pandas UDFs), not only JVM code
    assert python_plans > 0


def test_a_verb_runs_as_a_client_of_a_remote_spark_connect_server_on_the_cluster(connect_quality, spark):
    assert connect_quality.exit_code in (0, 3)
    log = connect_quality.log_file.read_text(encoding="utf-8")
    url = (connect_quality.cluster.dir / "connect.url").read_text(encoding="utf-8").strip()
    assert url.startswith("sc://") and f"Spark Connect client of {url}" in log
    # the overlay's static settings (the event log) are the server's: named, not sent, no failure;
    # its session settings (shuffle partitions) are sent
    (warning,) = [line for line in log.splitlines() if "must set itself, not sent:" in line]
    assert "spark.eventLog.enabled" in warning and "spark.sql.shuffle.partitions" not in warning
    catalog = Catalog(str(connect_quality.warehouse))
    (stage,) = read_table(spark, catalog, RUNS).where(f"run_id = '{connect_quality.run_id}'").collect()
    assert (stage.stage, stage.status) == ("quality", "ok")
    assert read_table(spark, catalog, QUALITY_RESULTS).count() > 0
    # the work ran on the executors that the server's application got from both workers
    (server,) = [a for a in connect_quality.master_status["activeapps"] if a["name"] == "mlhops-connect-server"]
    per_worker = [{e["id"] for e in w["executors"] if e["appid"] == server["id"]}
                  for w in connect_quality.worker_statuses]
    assert len(per_worker) == 2 and all(per_worker), per_worker
