"""Each alert type, planted once in the table it watches, raises exactly its alert."""

import datetime as dt
import http.server
import json
import threading

import pytest

from mlhops.alerts.rules import load_rules, rules_path
from mlhops.drift.result import DriftResult, to_dataframe
from mlhops.io import Catalog, merge_into, read_table
from mlhops.io.tables import models as mt
from mlhops.io.tables.monitoring import DRIFT_METRICS, MULTIVARIATE_DRIFT
from mlhops.io.tables.operations import ALERTS
from mlhops.pipelines.context import Context
from mlhops.pipelines.orchestrate import run_stage
from mlhops.pipelines.stage import StageRequest

D1, D2, D3 = dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 8), dt.datetime(2024, 1, 15)


def _drift(feature, start, drift, effect, detector="ks"):
    return DriftResult(
        detector=detector, feature=feature, window_start=start, window_end=start + dt.timedelta(days=7),
        statistic=effect, p_value=0.001 if drift else 0.5, p_value_adjusted=0.002 if drift else 0.6,
        threshold=0.05, drift=drift, effect_size=effect, effect_size_name="ks_d", n_reference=500,
        n_current=400, granularity="week",
    )


def run_alerts(spark, settings, run_id):
    """The alerts stage's result, run as the CLI runs it."""
    outcome = run_stage(Context.build(settings, spark), "alerts", StageRequest(run_id=run_id))
    assert outcome.result is not None and outcome.status != "failed", outcome.message
    return outcome.result


def plant(spark, cat, kind, settings=None):
    if kind == "drift":  # heart rate drifts two windows in a row; age only once
        rows = [_drift("heart_rate", D2, True, 0.3), _drift("heart_rate", D3, True, 0.35),
                _drift("age", D2, True, 0.4), _drift("age", D3, False, 0.01)]
        merge_into(to_dataframe(spark, rows), cat, DRIFT_METRICS, ["detector", "feature", "window_start"])
    elif kind == "multivariate_drift":
        rows = [_drift("vitals", D2, True, 0.03, detector="mmd"), _drift("vitals", D3, True, 0.02, detector="mmd"),
                _drift("vitals", D3, True, 0.01, detector="classifier")]  # one window alone: no page
        merge_into(to_dataframe(spark, rows), cat, MULTIVARIATE_DRIFT, ["detector", "feature", "window_start"])
    elif kind in ("performance", "calibration"):
        metric, value = ("auroc", 0.55) if kind == "performance" else ("ece", 0.2)
        row = ("risk", "1", D3.date(), (D3 + dt.timedelta(days=7)).date(), "realized", "all", "all", metric,
               value, value - 0.05, value + 0.05, 800, 90, 800, 0.3, D3.date())
        merge_into(spark.createDataFrame([row], mt.PERFORMANCE_METRICS_SCHEMA), cat, mt.PERFORMANCE_METRICS,
                   list(mt.PERFORMANCE_METRICS_SPEC.keys))
    elif kind == "fairness":
        row = ("risk", "1", D3.date(), (D3 + dt.timedelta(days=7)).date(), "sex", "F", "M", "tpr",
               0.55, 0.8, -0.25, 0.69, -0.4, -0.1, 300, True, D3.date())
        merge_into(spark.createDataFrame([row], mt.FAIRNESS_DISPARITIES_SCHEMA), cat, mt.FAIRNESS_DISPARITIES,
                   list(mt.FAIRNESS_DISPARITIES_SPEC.keys))
    elif kind == "quality":
        from mlhops.io.tables.operations import QUALITY_RESULTS as QUALITY_RESULTS_TABLE
        from mlhops.io.tables.operations import QUALITY_RESULTS_KEYS, QUALITY_RESULTS_SCHEMA

        base = {f.name: None for f in QUALITY_RESULTS_SCHEMA.fields}
        base.update(check_id="measurement_heart_rate_range", check_type="range", category="plausibility",
                    subcategory="atemporal", table_name="measurement", field="value_as_number", granularity="week",
                    window_start=D3.date(), window_end=(D3 + dt.timedelta(days=7)).date(), rows_checked=1000,
                    rows_failing=200, pct_failing=20.0, threshold_pct=1.0, status="fail",
                    description="heart rate within plausible range")
        df = spark.createDataFrame([tuple(base[f.name] for f in QUALITY_RESULTS_SCHEMA.fields)], QUALITY_RESULTS_SCHEMA)
        merge_into(df, cat, QUALITY_RESULTS_TABLE, list(QUALITY_RESULTS_KEYS))
    elif kind == "quarantine":  # an ETL run that quarantined 20% of one source table
        from mlhops.pipelines.runs import record_stage
        from mlhops.pipelines.stage import StageResult

        result = StageResult("etl", "alerts", metrics={
            "rows_read.observations": 1000.0, "rows_quarantined.observations": 200.0,
            "rows_read.patients": 50.0, "rows_quarantined.patients": 0.0,
        }, details={"source": "synthea-csv"})
        record_stage(spark, cat, StageRequest(run_id="etl-1"), result, environment=settings.environment,
                     started_at=D3, ended_at=D3, fingerprint="abc123")
    else:
        raise AssertionError(kind)


EXPECTED = {
    "drift": ("feature-drift", "drift.md#univariate-drift", "heart_rate"),
    "multivariate_drift": ("multivariate-drift", "drift.md#multivariate-drift", "vitals"),
    "performance": ("auroc-below-bound", "model-performance.md#performance-below-bound", "auroc"),
    "calibration": ("calibration-error-above-bound", "model-performance.md#calibration-below-bound", "ece"),
    "fairness": ("sensitivity-gap", "fairness.md#fairness-gap", "sex=F"),
    "quality": ("quality-check-failed", "quality.md#quality-check-failed", "measurement_heart_rate_range"),
    "quarantine": ("etl-quarantine-rate", "etl-quarantine.md#quarantine-rate", "observations"),
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_planted_problem_raises_exactly_its_alert(spark, settings_factory, kind):
    s = settings_factory()
    cat = Catalog(s.warehouse)
    plant(spark, cat, kind, s)
    result = run_alerts(spark, s, "r1")
    alerts = read_table(spark, cat, ALERTS).collect()
    rule_id, runbook, subject_part = EXPECTED[kind]
    assert [a.rule_id for a in alerts] == [rule_id]
    assert alerts[0].runbook == f"docs/runbooks/{runbook}"
    assert subject_part in alerts[0].subject
    severity = {r.id: r.severity for r in load_rules(rules_path(s.alerts))}[rule_id]
    assert result.status == ("alerts" if severity in ("high", "critical") else "ok")
    assert result.metrics[f"alerts_current.{severity}"] == 1.0
    assert result.metrics["alerts_firing"] == (1.0 if severity in ("high", "critical") else 0.0)


def test_rerun_raises_no_duplicate_alerts(spark, settings_factory):
    s = settings_factory()
    cat = Catalog(s.warehouse)
    plant(spark, cat, "drift")
    first = run_alerts(spark, s, "r1")
    second = run_alerts(spark, s, "r2")
    assert first.metrics["alerts_new"] == 1 and second.metrics["alerts_new"] == 0
    assert read_table(spark, cat, ALERTS).count() == 1


def test_alert_in_an_older_window_does_not_drive_the_exit_code(spark, settings_factory):
    s = settings_factory()
    cat = Catalog(s.warehouse)
    plant(spark, cat, "multivariate_drift")  # high severity, window D3
    later = _drift("vitals", D3 + dt.timedelta(days=7), False, 0.0, detector="mmd")
    merge_into(to_dataframe(spark, [later]), cat, MULTIVARIATE_DRIFT, ["detector", "feature", "window_start"])
    result = run_alerts(spark, s, "r1")
    assert result.metrics["alerts_new"] == 1  # still recorded
    assert result.status == "ok"  # but the latest window is clean


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_new_alerts_are_posted_once_to_the_webhook(spark, settings_factory):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        s = settings_factory(alerts={"webhook_url": url})
        plant(spark, Catalog(s.warehouse), "fairness")
        run_alerts(spark, s, "r1")
        run_alerts(spark, s, "r2")
    finally:
        server.shutdown()
    assert len(_Hook.received) == 1
    payload = _Hook.received[0]
    assert payload["run_id"] == "r1"
    assert [a["rule_id"] for a in payload["alerts"]] == ["sensitivity-gap"]
    assert payload["alerts"][0]["runbook"] == "docs/runbooks/fairness.md#fairness-gap"


def test_cli_exits_3_on_a_high_alert_and_0_when_clean(spark, settings_factory, monkeypatch):
    from mlhops.cli import EXIT_ALERTS, EXIT_OK, main

    s = settings_factory()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", s.mlflow.tracking_uri)
    assert main(["alerts", "--warehouse", s.warehouse, "--run-id", "c0"]) == EXIT_OK
    plant(spark, Catalog(s.warehouse), "performance")  # auroc-below-bound is high severity
    assert main(["alerts", "--warehouse", s.warehouse, "--run-id", "c1"]) == EXIT_ALERTS
