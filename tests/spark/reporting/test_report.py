"""The report on real stage output (the monitored UCI warehouse): what each section shows,
checked against the platform tables, and how it renders in headless Chromium."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
from pyspark.sql import functions as F

from mlhops.io import read_table
from mlhops.pipelines.context import Context
from mlhops.pipelines.options import DriftOptions
from mlhops.pipelines.orchestrate import run_stage
from mlhops.pipelines.stage import StageRequest
from mlhops.reporting import drift_sections, model_sections
from mlhops.reporting.report import build_report, write_report
from tests.spark.models.conftest import DRIFT_FROM
from tests.spark.models.monitored import MONITORED_TASK, TRAIN_AS_OF
from tests.support.browser import render_probe

SECOND_RUN = "mon-2"


@pytest.fixture()
def ctx(spark, monitored):
    return Context.build(monitored.settings, spark)


_REPORT: dict[str, dict] = {}


@pytest.fixture()
def report(ctx, monitored):
    """A second run (its drift stage skips: same inputs) and its report (built once)."""
    if not _REPORT:
        s = monitored.settings
        skipped = run_stage(ctx, "drift", StageRequest(SECOND_RUN, options=DriftOptions()))
        html = build_report(ctx.spark, ctx.catalog, ctx.tracker, report=s.report, models=s.models,
                            environment=s.environment, run_id=SECOND_RUN, hasher=ctx.hasher)
        path = write_report(html, ctx.catalog, SECOND_RUN)
        _REPORT.update(html=html, path=path, skipped=skipped)
    return _REPORT


def _section(html: str, anchor: str) -> str:
    m = re.search(rf'<section id="{anchor}">(.*?)</section>', html, flags=re.S)
    assert m, f"no section {anchor}"
    return m.group(1)


def _figures(body: str) -> list[str]:
    return re.findall(r'<img class="plot" alt="([^"]*)"', body)


def _drift(ctx) -> pd.DataFrame:
    return read_table(ctx.spark, ctx.catalog, "mlhops.drift_metrics").where(
        (F.col("slice") == "all") & (F.col("reference") == "baseline")).toPandas()


def test_the_planted_change_made_drift_alerts(ctx):
    kinds = {r[0] for r in read_table(ctx.spark, ctx.catalog, "mlhops.alerts").select("kind").distinct().collect()}
    assert {"drift", "multivariate_drift"} <= kinds


def test_k_of_n_features_drifted_per_window_matches_drift_metrics(ctx, report):
    d = _drift(ctx)
    week = d[d["granularity"] == "week"]
    body = _section(report["html"], "drift")
    ok = week[week["status"] == "ok"]
    per = ok.groupby("window_start").agg(tested=("feature", "nunique"))
    drifted = ok[ok["drift"]].groupby("window_start")["feature"].nunique()
    for w, row in per.iterrows():
        k = int(drifted.get(w, 0))
        assert f"<td>{str(w)[:10]}</td><td>{k} of {row.tested} features drifted</td>" in body
    # the planted feature is among the drifted ones after the change
    after = ok[(ok["window_start"] >= pd.Timestamp(DRIFT_FROM)) & ok["drift"]]
    assert "prior_inpatient" in set(after["feature"])


def test_windows_with_insufficient_data_are_shown_as_such(ctx, report):
    d = _drift(ctx)
    summary = drift_sections.window_summary(d)
    untested = summary[summary["tested"] == 0]
    assert len(untested), "the monitored data has sparse tail windows"
    body = _section(report["html"], "drift")
    for w in untested[untested["granularity"] == "week"]["window_start"].tail(16):
        assert re.search(rf"<td>{str(w)[:10]}</td><td><span class=\"muted\">&nbsp;insufficient data", body)
    assert "0 of 0" not in body


def test_drift_charts_have_thresholds_and_distributions(report):
    body = _section(report["html"], "drift")
    alts = _figures(body)
    assert {"k of n week", "drift heatmap week", "drift lines week", "distributions week"} <= set(alts)
    assert "PSI threshold" in body and "hatched grey" in body


def test_skipped_stage_is_listed_with_why(report):
    assert report["skipped"].status == "skipped"
    body = _section(report["html"], "pipeline")
    assert f"<li><b>drift</b> skipped: {report['skipped'].message}</li>" in body


def test_cbpe_is_drawn_over_realized_with_the_training_period(ctx, monitored, report):
    s = monitored.settings
    perf = read_table(ctx.spark, ctx.catalog, "mlhops.performance_metrics").toPandas()
    assert {"realized", "cbpe"} <= set(perf["method"])
    ref = model_sections.reference_period(ctx.spark, ctx.catalog, ctx.tracker, MONITORED_TASK, "1", s.models.task)
    assert ref is not None and ref[0] <= ref[1] < TRAIN_AS_OF
    body = _section(report["html"], "performance")
    assert f"performance {MONITORED_TASK} 1" in _figures(body) and "training period;" in body


def test_reliability_bins_are_aggregates_that_add_up(ctx, monitored, report):
    s = monitored.settings
    bins = model_sections.calibration_bins(ctx.spark, ctx.catalog, ctx.hasher, s.models, dt.date(2030, 1, 1))
    nb, mg = s.models.ece_bins, s.models.fairness.min_group_size
    assert len(bins) and (bins["n"] >= mg).all()
    assert ((bins["predicted"] >= bins["bin"] / nb) & (bins["predicted"] <= (bins["bin"] + 1) / nb)).all()
    assert bins["observed"].between(0, 1).all()
    log = read_table(ctx.spark, ctx.catalog, "mlhops.inference_log")
    assert bins["n"].sum() <= log.count()
    assert f"reliability {MONITORED_TASK} 1" in _figures(_section(report["html"], "calibration"))


def test_fairness_gaps_are_drawn_with_their_intervals(ctx, report):
    fair = read_table(ctx.spark, ctx.catalog, "mlhops.fairness_disparities").toPandas()
    latest = fair[fair["window_start"] == fair["window_start"].max()]
    body = _section(report["html"], "fairness")
    assert f"fairness {sorted(set(latest['metric']) & {'sensitivity', 'ppv'})[0]}" in _figures(body)
    assert "<th>group CI low</th><th>group CI high</th>" in body and latest["ci_lower"].notna().any()


def test_every_section_has_content_and_no_patient_keys(ctx, report):
    html = report["html"]
    for anchor in re.findall(r'<section id="([^"]+)">', html):
        body = _section(html, anchor)
        assert "No rows." not in body, anchor
        assert len(re.sub(r"<[^>]+>", "", body).strip()) > 40, anchor
    keys = read_table(ctx.spark, ctx.catalog, "mlhops.inference_log").select("visit_hash", "person_hash").limit(200)
    for r in keys.collect():
        assert r["visit_hash"] not in html and r["person_hash"] not in html


def test_report_renders_in_chromium(report):
    probe = render_probe(report["path"])
    assert probe["broken"] == 0
    assert probe["plots"] == report["html"].count('<img class="plot"') >= 8
    assert probe["sections"] == report["html"].count("<section ")
