"""Spark Connect: the nightly pipeline through a local Spark Connect server (PySpark's own switch,
``SPARK_REMOTE=local``), against the same nightly in this suite's classic session.

The Connect run is the real CLI in its own process (a Connect client turns its whole Python
process to Connect, so it cannot share this one): every stage on the shipped 27-patient sample
with the fault-injection harness's overlay (revisit task, monthly statistics, so that every stage
has work). The classic run is the same CLI call in this process. Both start from empty
warehouses with the same run id; their Delta tables must hold the same rows. The last test runs the
verbs outside the nightly (explain, train, promote, rollback, erase) through Connect on the Connect
nightly's warehouse, which it changes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

from mlhops.config import load_settings
from mlhops.config.secrets import resolve_salt
from mlhops.hashing import KeyedHasher
from mlhops.pipelines import nightly_stages
from tests.support.fault_injection import (
    SAMPLE_INPUT, cli_command, cli_env, compare_warehouses, delta_tables, in_process_runner, overlay,
)

RUN_ID = "connect-vs-classic"
# Tables whose rows follow the KLL-derived drift flags: (columns, rows) left out of the comparison.
KLL_DERIVED = {
    "mlhops.alerts": (("alert_id", "value", "message", "raised_at", "first_run_id"), "rule_id = 'feature-drift'"),
    "mlhops.model_triggers": (("reason", "feature", "effect_size"), "false"),
}


@pytest.fixture(scope="module")
def runs(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("connect")
    conf = overlay(root / "overlay.yaml", {"etl": {"inputs": {"synthea-csv": str(SAMPLE_INPUT)}}, "drift": {"slices": []}})
    connect_wh, classic_wh, empty = root / "connect", root / "classic", root / "empty"
    empty.mkdir()
    log = root / "connect.log"
    env = {**cli_env(), "SPARK_REMOTE": "local"}
    done = subprocess.run(cli_command(["nightly"], connect_wh, conf, RUN_ID, log), env=env,
                          capture_output=True, text=True, timeout=1500)
    classic_rc = in_process_runner(conf, root)(["nightly"], classic_wh, RUN_ID)
    return done, log, connect_wh, classic_rc, classic_wh, empty


def test_the_nightly_runs_every_stage_through_a_local_spark_connect_server(runs):
    done, log, *_ = runs
    assert done.returncode in (0, 3), done.stdout[-3000:] + done.stderr[-3000:]
    assert "starting Spark (Spark Connect local)" in done.stdout
    text = log.read_text()
    for stage in nightly_stages():
        assert f"] {stage}: " in text, stage
    assert "failed in" not in text


def test_the_connect_nightly_writes_the_same_tables_and_rows_as_the_classic_nightly(spark, runs):
    _, _, connect_wh, classic_rc, classic_wh, empty = runs
    assert classic_rc in (0, 3)
    tables = delta_tables(connect_wh)
    assert {"omop.person", "omop.visit_occurrence", "mlhops.features", "mlhops.profile_states",
            "mlhops.inference_log", "mlhops.alerts", "mlhops.runs"} <= set(tables)
    diffs = {d.table: str(d) for d in compare_warehouses(spark, connect_wh, classic_wh, empty)}
    # Feature-drift alerts fire on drift flags computed from KLL quantiles, whose sketches are
    # randomised (RUN_DEPENDENT): two runs flag a few windows differently, Connect or not, and the
    # retraining triggers name the strongest of those flags. Everything else in them must agree.
    assert set(diffs) <= set(KLL_DERIVED), diffs
    for table, (ignored, kll_rows) in KLL_DERIVED.items():
        a, b = (spark.read.format("delta").load(str(wh / table.replace(".", "/"))).where(f"NOT ({kll_rows})").drop(*ignored)
                for wh in (connect_wh, classic_wh))
        assert a.count() == b.count() and a.exceptAll(b).isEmpty(), table


def test_no_classic_only_call_is_left_in_the_library():
    """Every JVM/py4j call in lib/ sits behind a Connect check (``is_connect``) in its function."""
    lib = Path(__file__).resolve().parents[3] / "lib" / "mlhops"
    offenders = []
    for path in lib.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for marker in ("sparkContext", "_jvm", "_jsc", "_jsparkSession", ".rdd"):
            if marker in text and "is_connect" not in text:
                offenders.append(f"{path.relative_to(lib)}: {marker}")
    assert offenders == []


# Read-only notebooks, on the Connect nightly's warehouse (backfill runs stages: the CLI's path).
NOTEBOOKS = ("compare_windows.py", "explore_drift_alert.py", "promote_or_rollback.py")


def test_the_notebooks_run_through_a_local_spark_connect_server(runs):
    done, _, connect_wh, *_ = runs
    assert done.returncode in (0, 3)
    conf = connect_wh.parent / "overlay.yaml"
    notebooks = Path(__file__).resolve().parents[3] / "notebooks"
    env = {**cli_env(), "SPARK_REMOTE": "local", "MLHOPS_PARAM_WAREHOUSE": str(connect_wh),
           "MLHOPS_PARAM_CONF": str(conf)}
    script = ("import runpy, sys\n"
              "for nb in sys.argv[1:]:\n"
              "    print('== notebook', nb, flush=True)\n"
              "    runpy.run_path(nb, run_name='__main__')\n")
    out = subprocess.run([sys.executable, "-c", script, *(str(notebooks / n) for n in NOTEBOOKS)], env=env,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for name in NOTEBOOKS:
        assert f"== notebook {notebooks / name}" in out.stdout


# The verbs outside the nightly, through the CLI's entry point in one Connect process (one server
# start: each call reuses the session the first one made). An explanation shows a visit's feature
# values, so only its first words and its length are printed.
VERBS = """\
import contextlib, io, json, sys
from mlhops.cli import main
common = json.loads(sys.argv[2])
for i, argv in enumerate(json.loads(sys.argv[1])):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main([*argv, *common, '--run-id', f'connect-verbs-{i}'])
    lines = out.getvalue().splitlines()
    shown = [lines[0].split(':')[0], len(lines)] if argv[0] == 'explain' and lines else lines
    print(json.dumps({'verb': argv[0], 'rc': rc, 'out': shown}), flush=True)
"""
ERASED = slice(3, 5)  # two patients of the sample's patients.csv


def test_explain_promote_rollback_and_erase_run_through_a_local_spark_connect_server(spark, runs, tmp_path):
    """Last in the module: it trains a second version, moves the champion and erases two persons
    in the Connect nightly's warehouse, which the tests above read as the nightly left it."""
    done, _, connect_wh, *_ = runs
    assert done.returncode in (0, 3)
    conf = connect_wh.parent / "overlay.yaml"

    def table(name: str):
        return spark.read.format("delta").load(str(connect_wh / name.replace(".", "/")))

    log_rows = table("mlhops.inference_log").where("model_version = '1'")
    visit_hash = log_rows.orderBy("visit_hash").first()["visit_hash"]
    ids = pd.read_csv(SAMPLE_INPUT / "patients.csv", usecols=["Id"])["Id"].tolist()[ERASED]
    hasher = KeyedHasher(resolve_salt(load_settings(str(conf), warehouse=str(connect_wh))))
    key_hashes = [hasher.hash_value("person", i) for i in ids]
    persons = [int(r["id"]) for r in table("mlhops.id_map").where(
        (F.col("kind") == "person") & F.col("key_hash").isin(key_hashes)).collect()]
    assert len(persons) == len(ids)
    keys = {"person_id": persons, "person_hash": [hasher.hash_value("person_id", str(p)) for p in persons]}
    # Each table's person column (person_id where it has both).
    keyed = {n: c for n in delta_tables(connect_wh)
             if (c := next((k for k in keys if k in table(n).columns), None))}
    theirs = {n: table(n).where(F.col(c).isin(keys[c])).count() for n, c in keyed.items()}
    assert theirs["omop.person"] == len(ids)
    assert theirs["omop.visit_occurrence"] > 0 and theirs["mlhops.inference_log"] > 0
    n_people = table("omop.person").count()
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n", encoding="utf-8")
    log = tmp_path / "verbs.log"
    calls = [["explain", "--visit-hash", visit_hash],
             ["train", "--force"],  # the nightly registered version 1 as champion: a challenger to promote
             ["promote", "--reason", "connect test"],
             ["rollback", "--reason", "connect test"],
             ["erase", "--source", "synthea-csv", "--ids", str(ids_file), "--by", "connect-test",
              "--reason", "test"]]
    common = ["--warehouse", str(connect_wh), "--conf", str(conf), "--log-file", str(log)]
    env = {**cli_env(), "SPARK_REMOTE": "local"}
    out = subprocess.run([sys.executable, "-c", VERBS, json.dumps(calls), json.dumps(common)], env=env,
                         capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    results = {r["verb"]: r for r in lines}
    assert {v: r["rc"] for v, r in results.items()} == {c[0]: 0 for c in calls}, out.stdout[-3000:]
    assert log.read_text().count("session ready") == 1  # one Connect server for the five verbs
    assert results["explain"]["out"][0] == "mlhops_fi_revisit_30d v1" and results["explain"]["out"][1] > 2
    assert "version 2 as challenger" in results["train"]["out"][1]
    events = table("mlhops.model_events").orderBy("event_time").collect()
    assert [(e["action"], e["from_version"], e["to_version"], e["reason"]) for e in events] == [
        ("promote", "1", "2", "connect test"), ("rollback", "2", "1", "connect test")]
    [record] = table("mlhops.erasures").collect()
    assert (record["status"], record["n_ids"], record["n_persons"], record["run_id"]) == (
        "complete", len(ids), len(ids), "connect-verbs-4")
    assert f"complete, {len(ids)} of {len(ids)} persons" in results["erase"]["out"][0]
    deleted = dict(record["rows_deleted"])
    for name, column in keyed.items():
        assert table(name).where(F.col(column).isin(keys[column])).count() == 0, name
        assert deleted.get(name, 0) == theirs[name], name
    assert table("omop.person").count() == n_people - len(ids)
