"""The drift stage explains what it flags: a lab count shifted at one site in one week is named as
the feature and the site carrying the shift, in mlhops.drift_explanations and in the alert."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from pyspark.sql import functions as F

from mlhops.alerts.rules import AlertRule
from mlhops.io import read_table
from mlhops.io.tables.monitoring import DRIFT_EXPLANATIONS, MULTIVARIATE_DRIFT
from mlhops.pipelines.context import Context
from tests.spark.drift.uci_features import uci_weeks, write_features
from tests.unit.drift.uci import FEATURES

SITES = 2
PLANTED_SITE = "2"
PLANTED_FEATURE = "num_lab_procedures"
SHIFTED_FROM = dt.datetime(2024, 1, 22)
NULL_WEEK, SHIFTED_WEEK = 15, 22
ALPHA = 0.05


def _write_features(spark, settings) -> None:
    """Two reference weeks, then an unshifted week and a week whose lab counts rose by one SD at site 2."""
    df = uci_weeks(SITES)
    planted = (df["event_time"] >= SHIFTED_FROM) & (df["care_site_id"] == int(PLANTED_SITE))
    df.loc[planted, PLANTED_FEATURE] += df[PLANTED_FEATURE].std()
    write_features(spark, settings, df)


@pytest.fixture(scope="module")
def explained(spark, settings_factory):
    """Detectors fitted on the two reference weeks, then the two later weeks scored (and explained)."""
    from mlhops.drift.multivariate import drift_slices, fit_detectors, reference_period, score_windows

    settings = settings_factory(drift={
        "reference_start": "2024-01-01", "reference_end": "2024-01-15", "slices": ["site"], "sample_cap": 800,
        "min_rows": 150, "detectors": ["mmd", "classifier"], "vae_epochs": 3, "n_permutations": 50,
        "classifier_epochs": 3, "device": "cpu", "model_name": "test-drift-explain", "fit_if_missing": False,
        "explain": {"max_rows": 400, "permutation_repeats": 3},
    })
    _write_features(spark, settings)
    ctx = Context.build(settings, spark)
    ds, client = settings.drift, ctx.tracker.client()
    slices = drift_slices(ds, settings.stats.slices)
    with ctx.tracker.run("drift_fit") as run:
        fit_detectors(spark, ctx.catalog, ds, features=FEATURES, slices=slices,
                      period=reference_period(ds, settings.stats.baseline), client=client, run_id=run.info.run_id,
                      alias=ds.alias)

    def score(start: dt.date, end: dt.date, run_id: str) -> dict:
        return score_windows(spark, ctx.catalog, ds, slices=slices, start=start, end=end, run_id=run_id, client=client)

    out = score(dt.date(2024, 1, 15), dt.date(2024, 1, 29), "run-1")
    return ctx, score, out


def _table(spark, ctx, name: str) -> pd.DataFrame:
    pdf = read_table(spark, ctx.catalog, name).toPandas()
    pdf["day"] = pd.to_datetime(pdf["window_start"]).dt.day
    return pdf


def test_the_planted_feature_and_site_explain_the_flagged_week(spark, explained):
    ctx, _, out = explained
    mv = _table(spark, ctx, MULTIVARIATE_DRIFT)
    ex = _table(spark, ctx, DRIFT_EXPLANATIONS)
    assert out["explanation_rows"] == len(ex) > 0
    flags = {(r.day, r.slice_value, r.detector) for r in mv.itertuples() if r.drift}
    assert {(SHIFTED_WEEK, PLANTED_SITE, "mmd"), (SHIFTED_WEEK, PLANTED_SITE, "classifier")} <= flags
    at_site = ex[(ex["day"] == SHIFTED_WEEK) & (ex["slice"] == "site") & (ex["slice_value"] == PLANTED_SITE)]
    for detector, method in (("classifier", "permutation_importance"), ("mmd", "lofo_mmd"), ("mmd", "ks")):
        rows = at_site[(at_site["detector"] == detector) & (at_site["method"] == method)].sort_values("rank")
        assert rows["feature"].iloc[0] == PLANTED_FEATURE, (detector, method)
    ks = at_site[(at_site["detector"] == "mmd") & (at_site["method"] == "ks")].set_index("feature")
    assert ks.loc[PLANTED_FEATURE, "q_value"] < ALPHA
    # every detector that flagged the week ranks the planted site first among the sites
    loc = ex[(ex["day"] == SHIFTED_WEEK) & (ex["method"] == "slice_statistic")]
    for detector in ("mmd", "classifier"):
        first = loc[(loc["detector"] == detector) & (loc["rank"] == 1)]
        assert list(first["slice_value"]) == [PLANTED_SITE], detector
    assert set(loc["feature"]) == {"test-drift-explain"}  # the feature set, not a feature
    # only what a detector flagged is explained: no feature rows for an unflagged slice value
    feats = ex[ex["method"] != "slice_statistic"]
    explained_keys = {(r.day, r.slice_value, r.detector) for r in feats.itertuples()}
    assert explained_keys <= flags
    # the unshifted week: whatever a detector flagged there by chance, no screen is significant
    null = feats[(feats["day"] == NULL_WEEK) & feats["q_value"].notna()]
    assert (null["q_value"] >= ALPHA).all()


def test_the_report_lists_the_top_features_and_the_carrying_site(spark, explained):
    from mlhops.reporting.drift_sections import explanation_summary, multivariate, read_explanations, window_explanation

    ctx, _, _ = explained
    summary = explanation_summary(read_explanations(spark, ctx.catalog))
    week = summary[(pd.to_datetime(summary["window_start"]).dt.day == SHIFTED_WEEK)
                   & (summary["slice"] == f"site={PLANTED_SITE}")].set_index("detector")
    for detector in ("mmd", "classifier"):
        assert week.loc[detector, "features"].startswith(f"{PLANTED_FEATURE} (")
        assert week.loc[detector, "features"].count("(") == 3  # the top three, with their scores
        assert week.loc[detector, "carrier"] == f"site={PLANTED_SITE}"
    assert week.loc["classifier", "method"] == "permutation_importance"
    # what the explore notebook shows for the site's mmd alert
    feats, sites = window_explanation(read_explanations(spark, ctx.catalog), dt.date(2024, 1, SHIFTED_WEEK), "mmd",
                                      "site", PLANTED_SITE)
    assert feats[feats["method"] == "lofo_mmd"].iloc[0]["feature"] == PLANTED_FEATURE
    assert sites.iloc[0]["slice_value"] == PLANTED_SITE and sites.iloc[0]["rank"] == 1
    html = multivariate(spark, ctx.catalog)
    assert "What drives the flagged windows" in html and f"{PLANTED_FEATURE} (" in html


def test_the_alert_names_the_site_and_the_features(spark, explained):
    from mlhops.alerts.evaluate import multivariate_drift

    ctx, _, _ = explained
    rule = AlertRule(id="mv", kind="multivariate_drift", severity="high", runbook="drift.md#multivariate-drift",
                     only=("mmd",))
    alerts = multivariate_drift(spark, ctx.catalog, rule).toPandas()
    msgs = {s: m for s, m, w in zip(alerts["subject"], alerts["message"], alerts["window_start"]) if w.day == SHIFTED_WEEK}
    at_site = msgs[f"mmd test-drift-explain site={PLANTED_SITE}"]
    assert f"; in site={PLANTED_SITE}, driven by {PLANTED_FEATURE}, " in at_site  # two features named
    whole = msgs.get("mmd test-drift-explain all=all")
    if whole is not None:  # the whole population flagged too: the site is named as carrying it
        assert f"carried most by site={PLANTED_SITE}, driven by {PLANTED_FEATURE}" in whole


def test_rescoring_a_window_replaces_its_explanation(spark, explained):
    from mlhops.drift.multivariate import write_explanations

    ctx, score, _ = explained
    before = _table(spark, ctx, DRIFT_EXPLANATIONS)
    score(dt.date(2024, 1, 22), dt.date(2024, 1, 29), "run-2")
    after = _table(spark, ctx, DRIFT_EXPLANATIONS)
    keys = ["day", "slice", "slice_value", "detector", "feature", "method"]
    shifted_before = before[before["day"] == SHIFTED_WEEK].sort_values(keys).reset_index(drop=True)
    shifted_after = after[after["day"] == SHIFTED_WEEK].sort_values(keys).reset_index(drop=True)
    assert len(shifted_after) == len(shifted_before) and set(shifted_after["run_id"]) == {"run-2"}
    pd.testing.assert_frame_equal(shifted_after.drop(columns="run_id"), shifted_before.drop(columns="run_id"))
    # the other week is untouched; a window re-scored without a flag loses its old rows
    assert len(after[after["day"] == NULL_WEEK]) == len(before[before["day"] == NULL_WEEK])
    write_explanations(spark, ctx.catalog, [], granularity="week", windows=[dt.datetime(2024, 1, SHIFTED_WEEK)])
    left = read_table(spark, ctx.catalog, DRIFT_EXPLANATIONS)
    assert left.where(F.dayofmonth("window_start") == SHIFTED_WEEK).count() == 0
