"""Every shipped alert rule fires from the output of the real stage that feeds it.

No row is written by hand into a table a rule reads: the planted problems are changes to the
stages' *inputs* (a feature feed change and recaptured readmissions in the monitored UCI
warehouse, tests/spark/models/monitored.py; a heart rate in another unit in an OMOP export; bad
rows in a Synthea CSV file), and the stages (etl, quality, stats, drift, train, score, evaluate)
write what the alerts stage reads.
"""

from __future__ import annotations

import csv
import datetime as dt
import http.server
import json
import math
import shutil
import threading

import pandas as pd
import pytest

from mlhops.alerts.rules import load_rules, rules_path
from mlhops.io import Catalog, read_table
from mlhops.io.tables.models import FAIRNESS_DISPARITIES
from mlhops.io.tables.operations import ALERTS
from mlhops.pipelines.context import Context
from mlhops.pipelines.orchestrate import run_stage
from mlhops.pipelines.stage import StageRequest
from tests.conftest import REPO, shared_path
from tests.spark.etl.conftest import data_rows, etl_request, write_subset
from tests.spark.models.conftest import DRIFT_FROM
from tests.spark.models.monitored import RECAPTURE_FROM

SHIPPED = {r.id: r for r in load_rules(REPO / "conf" / "alerts.yaml")}

# Rule -> (the stage whose output it reads, a part of the alert's subject) on the monitored warehouse.
FROM_MONITORED = {
    "feature-drift": ("stats", "prior_inpatient"),
    "multivariate-drift": ("drift", "mmd"),
    "auroc-below-bound": ("evaluate", "realized auroc"),
    "calibration-error-above-bound": ("evaluate", "realized ece"),
    "sensitivity-gap": ("evaluate", "sensitivity"),
    "concept-drift-alarm": ("evaluate", "cusum_residual"),
    "label-shift": ("evaluate", "label shift"),
    "model-update-triggered": ("evaluate", "feature_drift retrain"),
    "labels-requested": ("evaluate", "labels open"),
}
# The rules fed by other stages, tested below on their own warehouses (imaging-drift: on real
# DICOM headers with a planted scanner change, tests/spark/drift/test_imaging_stage.py).
ELSEWHERE = {"quality-check-failed", "etl-quarantine-rate", "imaging-drift"}


def test_every_shipped_rule_is_tested_against_its_stage():
    assert set(SHIPPED) == set(FROM_MONITORED) | ELSEWHERE


def _alerts(spark, settings) -> pd.DataFrame:
    return read_table(spark, Catalog(settings.warehouse), ALERTS).toPandas()


def run_alerts(spark, settings, run_id):
    """The alerts stage's result, run as the CLI runs it."""
    outcome = run_stage(Context.build(settings, spark), "alerts", StageRequest(run_id=run_id))
    assert outcome.result is not None and outcome.status != "failed", outcome.message
    return outcome.result


def _day(v) -> dt.date:
    return pd.Timestamp(v).date()


def _windows(alerts: pd.DataFrame, subject: str) -> set[dt.date]:
    return {_day(w) for w in alerts[alerts.subject.str.contains(subject, regex=False)].window_start}


@pytest.mark.parametrize("rule_id", sorted(FROM_MONITORED))
def test_rule_fires_from_its_stage_and_links_its_runbook(spark, monitored, rule_id):
    alerts = _alerts(spark, monitored.settings)
    mine = alerts[alerts.rule_id == rule_id]
    assert not mine.empty, f"{rule_id} did not fire; fired: {sorted(set(alerts.rule_id))}"
    rule = SHIPPED[rule_id]
    assert (mine.runbook == f"docs/runbooks/{rule.runbook}").all()
    assert (mine.kind == rule.kind).all() and (mine.severity == rule.severity).all()
    _, subject = FROM_MONITORED[rule_id]
    assert mine.subject.str.contains(subject, regex=False).any(), mine.subject.tolist()


def test_the_planted_changes_raise_their_alerts_in_their_windows(spark, monitored):
    a = _alerts(spark, monitored.settings)
    after = {DRIFT_FROM + dt.timedelta(days=7 * i) for i in range(4)}
    by = {r: a[a.rule_id == r] for r in FROM_MONITORED}
    # the feed change: two adjacent flagged weeks page, from the second week on
    assert _windows(by["feature-drift"], "prior_inpatient [ks]") == after - {DRIFT_FROM}
    assert _windows(by["multivariate-drift"], "mmd") == after - {DRIFT_FROM}
    assert {_day(w) for w in by["calibration-error-above-bound"].window_start} == after
    assert DRIFT_FROM in _windows(by["concept-drift-alarm"], "cusum_residual")
    assert after <= _windows(by["label-shift"], "label shift")
    # discrimination falls only once readmissions are recaptured
    assert min(_day(w) for w in by["auroc-below-bound"].window_start) >= RECAPTURE_FROM
    trig = by["model-update-triggered"]
    assert trig[trig.subject.str.contains("feature_drift")].message.str.contains("prior_inpatient").any()
    assert _windows(trig, "multivariate_drift retrain") == after - {DRIFT_FROM}
    asked = by["labels-requested"]
    assert asked.message.str.contains("drift detectors flagged the window").any()
    assert all(w >= DRIFT_FROM for w in _windows(asked, "labels open"))


def test_sensitivity_gap_alerts_are_the_evaluate_stage_s_sensitivity_gaps(spark, monitored):
    a = _alerts(spark, monitored.settings)
    gaps = a[a.rule_id == "sensitivity-gap"]
    f = read_table(spark, Catalog(monitored.settings.warehouse), FAIRNESS_DISPARITIES).toPandas()
    big = f[(f.metric == "sensitivity") & (f.difference.abs() > SHIPPED["sensitivity-gap"].min_effect)]
    alerted = {(_day(r.window_start), r.subject.split()[-1]) for r in gaps.itertuples()}
    rows = {(_day(r.window_start), f"{r.attribute}={r.grp}") for r in f[f.metric == "sensitivity"].itertuples()}
    # every gap above the bound is alerted; every alert is a sensitivity row the stage wrote
    # (labels arriving later can shrink a gap an earlier run alerted on: the alert stays recorded)
    assert {(_day(r.window_start), f"{r.attribute}={r.grp}") for r in big.itertuples()} <= alerted <= rows
    assert alerted


def test_rules_of_other_stages_stay_quiet_on_the_monitored_warehouse(spark, monitored):
    fired = set(_alerts(spark, monitored.settings).rule_id)
    assert not fired & ELSEWHERE


def test_alerts_carry_no_patient_values(spark, monitored):
    alerts = _alerts(spark, monitored.settings)
    f = monitored.features
    ids = {str(v) for v in f["visit_occurrence_id"]} | {str(v) for v in f["person_id"]}
    text = " ".join(alerts.subject.tolist() + alerts.message.tolist())
    assert not {tok for tok in text.replace(",", " ").replace(":", " ").split() if tok in ids}


def test_rerun_raises_no_duplicate_alerts(spark, monitored):
    before = _alerts(spark, monitored.settings)
    again = run_alerts(spark, monitored.settings, "again")
    new = [monitored.results[s].metrics["alerts_new"] for s in ("alerts_first", "alerts")]
    assert sum(new) == len(before) and all(n > 0 for n in new)
    assert again.metrics["alerts_new"] == 0
    assert len(_alerts(spark, monitored.settings)) == len(before)


# --- quality: the real quality stage on an OMOP export with a heart rate in another unit -------------


@pytest.fixture(scope="module")
def quality_warehouse(spark, omop_warehouse, settings_factory, tmp_path_factory):
    """An OMOP export copy whose first heart-rate measurement was recorded in another unit."""
    from mlhops.io.tables.etl import MEASUREMENT

    wh = tmp_path_factory.mktemp("alerts_quality")
    shutil.copytree(omop_warehouse / "omop", wh / "omop")
    settings = settings_factory(wh)
    cat = Catalog(settings.warehouse)
    hr = read_table(spark, cat, MEASUREMENT).where("measurement_concept_id = 3027018").orderBy("measurement_id").first()
    spark.sql(f"UPDATE delta.`{cat.omop('measurement')}` SET unit_concept_id = 8554, value_as_number = 400 "
              f"WHERE measurement_id = {hr['measurement_id']}")
    outcome = run_stage(Context.build(settings, spark), "quality", StageRequest(run_id="q1"))
    assert outcome.result is not None and outcome.status == "alerts", outcome.message
    return settings


def test_quality_rule_fires_from_the_quality_stage(spark, quality_warehouse):
    result = run_alerts(spark, quality_warehouse, "r1")
    alerts = _alerts(spark, quality_warehouse)
    assert set(alerts.rule_id) == {"quality-check-failed"}
    assert {s.split()[0] for s in alerts.subject} == {"range_heart_rate", "unit_heart_rate"}
    assert (alerts.runbook == "docs/runbooks/quality.md#quality-check-failed").all()
    assert result.status == "ok"  # medium severity: recorded, does not page


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_new_alerts_are_posted_once_to_the_webhook(spark, quality_warehouse, settings_factory):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fresh = quality_warehouse.warehouse.rstrip("/") + "_hook"
    shutil.copytree(quality_warehouse.warehouse, fresh)
    shutil.rmtree(f"{fresh}/mlhops/alerts", ignore_errors=True)
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        s = settings_factory(fresh, alerts={"webhook_url": url})
        run_alerts(spark, s, "h1")
        run_alerts(spark, s, "h2")
    finally:
        server.shutdown()
    assert len(_Hook.received) == 1
    payload = _Hook.received[0]
    assert payload["run_id"] == "h1"
    assert {a["rule_id"] for a in payload["alerts"]} == {"quality-check-failed"}
    assert payload["alerts"][0]["runbook"] == "docs/runbooks/quality.md#quality-check-failed"


class _FlakyHook(_Hook):
    """Refuses every post (503) until ``accept`` is set."""

    received: list = []
    refused = 0
    accept = False

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if not _FlakyHook.accept:
            _FlakyHook.refused += 1
            self.send_response(503)
            self.end_headers()
            return
        _FlakyHook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()


def test_alerts_a_refused_webhook_did_not_take_are_delivered_by_the_next_run(spark, quality_warehouse,
                                                                              settings_factory):
    from mlhops.io import Catalog, read_table

    server = http.server.HTTPServer(("127.0.0.1", 0), _FlakyHook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fresh = quality_warehouse.warehouse.rstrip("/") + "_flaky"
    shutil.copytree(quality_warehouse.warehouse, fresh)
    shutil.rmtree(f"{fresh}/mlhops/alerts", ignore_errors=True)
    s = settings_factory(fresh, alerts={"webhook_url": f"http://127.0.0.1:{server.server_port}/hook"})
    table = lambda: read_table(spark, Catalog(s.warehouse), "mlhops.alerts").toPandas()  # noqa: E731
    try:
        first = run_alerts(spark, s, "f1")
        queued = table()
        _FlakyHook.accept = True
        second = run_alerts(spark, s, "f2")
        delivered = table()
        run_alerts(spark, s, "f3")
    finally:
        server.shutdown()
    # The endpoint was down: every attempt refused, the alerts stored and queued, not lost.
    assert _FlakyHook.refused >= 1 and first.metrics["webhook_delivered"] == 0
    assert first.metrics["webhook_pending"] == len(queued) >= 1 and "still queued" in first.message
    assert queued["notify"].all() and queued["delivered_at"].isna().all() and (queued["delivery_attempts"] == 1).all()
    # The next run raises nothing new but delivers the queued ones, once.
    assert second.metrics["alerts_new"] == 0 and second.metrics["webhook_delivered"] == len(queued)
    assert len(_FlakyHook.received) == 1
    assert sorted(a["alert_id"] for a in _FlakyHook.received[0]["alerts"]) == sorted(queued["alert_id"])
    assert delivered["delivered_at"].notna().all() and (delivered["delivery_attempts"] == 2).all()


# --- quarantine: the real ETL stage on a Synthea export with unreadable observation rows ----------------


def _export_with_bad_observations(tmp_path, fraction: float):
    """Three shared Synthea patients; a ``fraction`` of their observation rows unparseable numbers."""
    src = shared_path("synthea27_csv")
    patients = {r["Id"] for r in data_rows(src / "patients.csv")[:3]}
    export = write_subset(src, tmp_path, patients)
    rows = data_rows(export / "observations.csv")
    numeric = [r for r in rows if r["TYPE"] == "numeric"]
    n_bad = math.ceil(len(rows) * fraction)
    for r in numeric[:n_bad]:
        r["VALUE"] = "not-a-number"
    with open(export / "observations.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return export, n_bad, len(rows)


def _etl(spark, settings, export, run_id):
    outcome = run_stage(Context.build(settings, spark), "etl", etl_request(run_id, "synthea-csv", export))
    assert outcome.result is not None and outcome.status != "failed", outcome.message
    return outcome.result


@pytest.mark.heavy
def test_quarantine_rule_fires_from_the_etl_stage_and_only_the_latest_run_drives_the_exit_code(
    spark, settings_factory, tmp_path, monkeypatch
):
    from mlhops.cli import EXIT_ALERTS, EXIT_OK, main

    settings = settings_factory()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings.mlflow.tracking_uri)
    assert main(["alerts", "--warehouse", settings.warehouse, "--run-id", "c0"]) == EXIT_OK
    bad, n_bad, n_rows = _export_with_bad_observations(tmp_path / "bad", 0.2)
    _etl(spark, settings, bad, "etl-bad")
    assert main(["alerts", "--warehouse", settings.warehouse, "--run-id", "c1"]) == EXIT_ALERTS
    alerts = _alerts(spark, settings)
    assert set(alerts.rule_id) == {"etl-quarantine-rate"}
    assert alerts.subject.str.contains("observations").all()
    assert alerts.runbook.iloc[0] == "docs/runbooks/etl-quarantine.md#quarantine-rate"
    assert alerts.value.iloc[0] == pytest.approx(n_bad / n_rows, abs=0.01)
    # The feed is fixed: a clean run of the same source is the latest; the old alert stays recorded.
    clean, _, _ = _export_with_bad_observations(tmp_path / "clean", 0.0)
    _etl(spark, settings, clean, "etl-clean")
    result = run_alerts(spark, settings, "r2")
    assert result.metrics["alerts_new"] == 0 and result.status == "ok"
    assert len(_alerts(spark, settings)) == len(alerts)
