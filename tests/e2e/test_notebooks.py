"""Each Databricks-format notebook runs end to end locally, and the alert notebook shows what each
alert kind's runbook promises.

The alerts come from the real stages: the monitored UCI warehouse (``tests.spark.models.monitored``:
a feed change planted in the feature table and recaptured readmissions, upstream of stats, drift,
train, score, evaluate and alerts) for the drift, multivariate-drift and model kinds; an ETL + quality run of the shipped
sample whose observations extract has a planted date-format change for quarantine and quality.
"""

from __future__ import annotations

import csv
import re
import runpy
import shutil
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

from mlhops.io import Catalog, read_table
from mlhops.reporting import distributions
from mlhops.reporting.explore import alert_view, runbook_section
from tests.spark.models.conftest import DRIFT_FROM

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
SAMPLE = REPO / "data" / "sample" / "synthea27_csv"
# Every CORRUPT_EVERY-th observation row of the planted extract has its DATE in another format.
CORRUPT_EVERY = 5
# Body weight (LOINC) sent in grams, still labelled kg, from the middle of its history on.
WEIGHT_CODE = "29463-7"


def test_notebooks_are_in_databricks_source_format():
    for nb in sorted(NOTEBOOKS.glob("*.py")):
        text = nb.read_text(encoding="utf-8")
        assert text.startswith("# Databricks notebook source\n"), nb.name
        assert "# COMMAND ----------" in text and "# MAGIC %md" in text, nb.name
        assert "dbutils" not in text, f"{nb.name}: parameters go through mlhops.runtime.param"


def _run_notebook(name: str, warehouse: Path, tracking_uri: str, params: dict[str, str], monkeypatch, capsys) -> str:
    monkeypatch.setenv("MLHOPS_PARAM_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    for k, v in params.items():
        monkeypatch.setenv(f"MLHOPS_PARAM_{k.upper()}", v)
    capsys.readouterr()
    runpy.run_path(str(NOTEBOOKS / name), run_name="__main__")
    return capsys.readouterr().out


def _panels(out: str) -> dict[str, str]:
    """Printed panel title -> its printed text (``runtime.show`` prints ``== title`` first)."""
    chunks = re.split(r"^== ", out, flags=re.M)
    return {c.split("\n", 1)[0]: c.split("\n", 1)[1] if "\n" in c else "" for c in chunks[1:]}


def _panel(out: str, prefix: str) -> str:
    hits = [v for k, v in _panels(out).items() if k.startswith(prefix)]
    assert hits, f"no panel starting {prefix!r}; panels: {list(_panels(out))}"
    return hits[0]


@pytest.mark.parametrize(
    "name,params",
    [
        ("compare_windows.py", {"GRANULARITY": "month"}),
        ("backfill.py", {"STAGES": "stats,alerts"}),
        ("promote_or_rollback.py", {"ACTION": "compare"}),
    ],
)
def test_notebook_runs_locally(name, params, demo_warehouse, monkeypatch, capsys):
    out = _run_notebook(name, demo_warehouse["warehouse"], demo_warehouse["settings"].mlflow.tracking_uri, params,
                        monkeypatch, capsys)
    assert out.strip(), f"{name} printed nothing"


# --- the alert notebook on real stage output --------------------------------------------------

def _alerts(spark, settings) -> pd.DataFrame:
    return read_table(spark, Catalog(settings.warehouse), "mlhops.alerts").toPandas()


def _latest(alerts: pd.DataFrame, kind: str) -> pd.Series:
    of_kind = alerts[alerts["kind"] == kind]
    assert len(of_kind), f"the stages raised no {kind} alert; kinds raised: {sorted(alerts['kind'].unique())}"
    return of_kind.sort_values(["window_start", "raised_at", "alert_id"], ascending=[False, False, True]).iloc[0]


def test_univariate_alert_shows_the_planted_feature_its_drift_and_histograms(spark, monitored, monkeypatch, capsys):
    settings = monitored.settings
    drift = _alerts(spark, settings).query("kind == 'drift'")
    planted = drift[drift["subject"].str.startswith("prior_inpatient [")]
    # the feature whose feed changed alarms only from the change on
    assert len(planted) and (planted["window_end"] > pd.Timestamp(DRIFT_FROM)).all()
    alert = planted.sort_values(["window_start", "alert_id"]).iloc[-1]
    out = _run_notebook("explore_drift_alert.py", settings.warehouse, settings.mlflow.tracking_uri,
                        {"alert_id": alert["alert_id"]}, monkeypatch, capsys)
    assert "## univariate-drift" in out  # the runbook section is printed
    history = _panel(out, "Drift of prior_inpatient over")
    assert re.search(r"\bks\b.*\bok\b.*True", history)  # KS flagged it in the alert's series
    # The reference-vs-current histogram: the baseline's bins, counts read from profile_metrics.
    view = alert_view(spark, Catalog(settings.warehouse), alert_id=alert["alert_id"])
    dist = view.panel("distribution").frame
    prof = distributions.profiles(spark, Catalog(settings.warehouse), ["prior_inpatient"])
    base = prof[prof["granularity"] == "baseline"].iloc[0]
    assert list(dist["reference_count"]) == list(base["hist_counts"]) and dist["bin"].iloc[0].startswith("<= ")
    assert len(dist) == len(base["hist_edges"]) + 1 and abs(dist["current_share"].sum() - 1) < 1e-9
    # doubling + 2 empties the lowest bins: the current share of the first bin falls
    assert dist["current_share"].iloc[0] < dist["reference_share"].iloc[0]
    printed = _panel(out, "prior_inpatient: reference (baseline) vs alert window")
    for label in dist["bin"]:
        assert label in printed


def test_multivariate_alert_shows_the_detector_windows_and_ranked_features(spark, monitored, monkeypatch, capsys):
    settings = monitored.settings
    cat = Catalog(settings.warehouse)
    alert = _latest(_alerts(spark, settings), "multivariate_drift")
    detector = alert["subject"].split(" ", 1)[0]
    out = _run_notebook("explore_drift_alert.py", settings.warehouse, settings.mlflow.tracking_uri,
                        {"alert_id": alert["alert_id"]}, monkeypatch, capsys)
    windows = _panel(out, f"{detector} on ")
    mv = read_table(spark, cat, "mlhops.multivariate_drift").where(F.col("detector") == detector).toPandas()
    for w in mv["window_start"].dt.strftime("%Y-%m-%d").unique():
        assert w in windows  # every window the detector scored, per slice
    assert windows.count("True") == int(mv["drift"].sum())
    ranked = _panel(out, "Univariate screens of the same week window")
    rows = [line.split() for line in ranked.strip().splitlines()[1:]]
    assert rows and rows[0][1] == "prior_inpatient"  # the planted feature has the largest effect
    view = alert_view(spark, cat, alert_id=alert["alert_id"])
    effects = view.panel("ranked_features").frame["effect_size"].dropna().abs().tolist()
    assert effects == sorted(effects, reverse=True)


@pytest.mark.parametrize("kind", ["calibration", "fairness"])
def test_model_alerts_show_the_metric_with_intervals(spark, monitored, monkeypatch, capsys, kind):
    settings = monitored.settings
    alert = _latest(_alerts(spark, settings), kind)
    out = _run_notebook("explore_drift_alert.py", settings.warehouse, settings.mlflow.tracking_uri,
                        {"alert_id": alert["alert_id"]}, monkeypatch, capsys)
    view = alert_view(spark, Catalog(settings.warehouse), alert_id=alert["alert_id"])
    key = "gap_history" if kind == "fairness" else "metric_history"
    frame = view.panel(key).frame
    day = pd.Timestamp(alert["window_start"]).normalize()
    at = frame[pd.to_datetime(frame["window_start"]) == day]
    assert len(at) and at["ci_lower"].notna().all()
    printed = _panel(out, view.panel(key).title)
    assert day.strftime("%Y-%m-%d") in printed and "ci_lower" in printed
    if kind == "fairness":  # the gap that fired, with its interval
        assert (at["difference"] - alert["value"]).abs().min() < 1e-9
    else:  # the value that fired, and the other method (realized / CBPE) beside it
        fired = at[at["method"] == alert["subject"].split()[2]]
        assert fired["estimate"].iloc[0] == pytest.approx(alert["value"])
        # CBPE estimates performance from the scores assuming they are calibrated: it has no
        # calibration estimate of its own, so a calibration panel shows realized values.
        assert set(frame["method"]) == {"realized"}
        assert fired["interval_past_bound"].iloc[0] == (fired["ci_lower"].iloc[0] > alert["threshold"])


def test_other_model_alert_kinds_show_the_model_tables_of_their_window(spark, monitored, monkeypatch, capsys):
    from mlhops.reporting.alert_panels import PANELS

    settings = monitored.settings
    alerts = _alerts(spark, settings)
    others = sorted(set(alerts["kind"]) - set(PANELS))
    assert others, "the evaluate stage's alert kinds (concept drift, label shift, triggers) raised nothing"
    for kind in others:
        alert = _latest(alerts, kind)
        out = _run_notebook("explore_drift_alert.py", settings.warehouse, settings.mlflow.tracking_uri,
                            {"alert_id": alert["alert_id"]}, monkeypatch, capsys)
        view = alert_view(spark, Catalog(settings.warehouse), alert_id=alert["alert_id"])
        shown = [p for p in view.panels if p.key in ("model_drift", "model_triggers", "label_requests")]
        assert any(len(p.frame) for p in shown), kind
        day = pd.Timestamp(alert["window_start"]).strftime("%Y-%m-%d")
        assert all(day in _panel(out, p.title) for p in shown if len(p.frame)), kind


def test_every_alert_gets_its_history_and_runbook(spark, monitored):
    cat = Catalog(monitored.settings.warehouse)
    alerts = read_table(spark, cat, "mlhops.alerts").toPandas()
    assert len(alerts)
    for _, a in alerts.drop_duplicates("kind").iterrows():
        view = alert_view(spark, cat, alert_id=a["alert_id"])
        assert view.kind == a["kind"] and view.runbook.startswith("## ")
        hist = view.panel("alert_history").frame
        assert len(hist) >= 1 and (hist["value"].isna() | hist["value"].notna()).all()


def test_runbook_section_stops_at_the_next_section():
    text = runbook_section("docs/runbooks/drift.md#univariate-drift", REPO)
    assert text.startswith("## univariate-drift") and "## multivariate-drift" not in text
    assert runbook_section("docs/runbooks/drift.md#no-such-section", REPO) == ""


# --- quarantine and quality from a planted extract change -------------------------------------

@pytest.fixture(scope="module")
def planted_etl(spark, settings_factory, tmp_path_factory):
    """The sample population through the real etl, quality and alerts stages, its observations
    extract changed upstream: every CORRUPT_EVERY-th row dated in US format, and body weights
    in grams (labelled kg) from the median weight date on."""
    from mlhops.pipelines.context import Context
    from mlhops.pipelines.options import EtlOptions
    from mlhops.pipelines.orchestrate import run_stage
    from mlhops.pipelines.stage import StageRequest

    src = tmp_path_factory.mktemp("planted") / "csv"
    shutil.copytree(SAMPLE, src)
    path = src / "observations.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    col, code, value = (rows[0].index(c) for c in ("DATE", "CODE", "VALUE"))
    weights = sorted(r[col] for r in rows[1:] if r[code] == WEIGHT_CODE)
    for row in rows[1:]:
        if row[code] == WEIGHT_CODE and row[col] >= weights[len(weights) // 2]:
            row[value] = str(float(row[value]) * 1000)
    for i, row in enumerate(rows[1:], start=1):
        if i % CORRUPT_EVERY == 0:
            y, m, d = row[col][:10].split("-")
            row[col] = f"{m}/{d}/{y}"  # a new extract writes US dates: 03/01/2019
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    settings = settings_factory()
    ctx = Context.build(settings, spark)
    for stage, opts in (("etl", EtlOptions(source="synthea-csv", input=str(src))), ("quality", None), ("alerts", None)):
        req = StageRequest("planted-1", options=opts) if opts else StageRequest("planted-1")
        outcome = run_stage(ctx, stage, req)
        assert outcome.status != "failed", outcome.message
    return settings


@pytest.mark.heavy
def test_quarantine_alert_shows_why_rows_were_quarantined(spark, planted_etl, monkeypatch, capsys):
    alerts = _alerts(spark, planted_etl)
    alert = _latest(alerts, "quarantine")
    assert " observations " in alert["subject"]
    out = _run_notebook("explore_drift_alert.py", planted_etl.warehouse, planted_etl.mlflow.tracking_uri,
                        {"alert_id": alert["alert_id"]}, monkeypatch, capsys)
    view = alert_view(spark, Catalog(planted_etl.warehouse), alert_id=alert["alert_id"])
    reasons = view.panel("quarantine_reasons").frame
    q = read_table(spark, Catalog(planted_etl.warehouse), "mlhops.quarantine").where(
        F.col("source_table") == "observations").toPandas()
    assert reasons["count"].sum() == len(q) and len(q) >= 1
    top = reasons.iloc[0]
    assert top["field"] == "DATE"
    assert str(top["reason"]) in _panel(out, "Why rows of observations were quarantined")


@pytest.mark.heavy
def test_quality_alert_shows_the_check_over_windows(spark, planted_etl, monkeypatch, capsys):
    alerts = _alerts(spark, planted_etl).query("kind == 'quality'")
    weight = alerts[alerts["subject"].str.startswith("range_body_weight ")]
    assert len(weight), f"no body-weight range alert; quality alerts: {sorted(alerts['subject'])}"
    alert = weight.sort_values("window_start").iloc[-1]
    out = _run_notebook("explore_drift_alert.py", planted_etl.warehouse, planted_etl.mlflow.tracking_uri,
                        {"alert_id": alert["alert_id"]}, monkeypatch, capsys)
    hist = read_table(spark, Catalog(planted_etl.warehouse), "mlhops.quality_results").where(
        F.col("check_id") == "range_body_weight").toPandas()
    printed = _panel(out, "Check range_body_weight over windows")
    lines = [ln for ln in printed.strip().splitlines() if not ln.lstrip().startswith("note:")]
    assert len(lines) == len(hist) + 1  # header + one line per window (the panel's note aside)
    # the windows before the change pass, the alert's window fails: the jump the runbook describes
    assert sum(" fail" in line for line in lines[1:]) == int((hist["status"] == "fail").sum()) >= 1
    assert any(" pass" in line for line in lines[1:])
