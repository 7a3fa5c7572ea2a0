"""Closing the loop on a real warehouse: the drift detectors' results fire triggers and ask for
labels; label requests are closed when the labels arrive (tests/spark/models/monitored.py runs the
stages on the UCI warehouse with a planted feature-feed change from DRIFT_FROM)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from mlhops.io import Catalog, read_table, table_version
from mlhops.io.tables.models import LABEL_REQUESTS, LABEL_REQUESTS_SPEC
from mlhops.models.label_policy import LABELLED_FRACTION
from mlhops.models.outputs import merge_rows
from tests.spark.models.conftest import DRIFT_FROM
from tests.spark.models.monitored import FIRST_AS_OF, LATER_AS_OF

WEEK = dt.timedelta(days=7)


def _table(spark, m, name) -> pd.DataFrame:
    return read_table(spark, Catalog(m.settings.warehouse), name).toPandas()


def _flagged(spark, m, name) -> set[tuple[str, str, dt.date]]:
    d = _table(spark, m, name)
    d = d[d["drift"] & (d["status"] == "ok") & (d["slice"] == "all") & (d["reference"] == "baseline")]
    return {(r.detector, r.feature, pd.Timestamp(r.window_start).date()) for r in d.itertuples()}


def test_the_planted_feed_change_fires_retrain_triggers_once_it_persists_with_its_evidence(spark, monitored):
    m = monitored
    t = _table(spark, m, "mlhops.model_triggers")
    uni = t[(t["kind"] == "feature_drift") & (t["feature"] == "prior_inpatient")]
    assert not uni.empty
    # k = 2 adjacent windows: the first trigger comes one window after the change, not in it.
    assert min(uni["window_start"]) == DRIFT_FROM + WEEK
    assert (uni["evidence_start"] == DRIFT_FROM).all() and (uni["evidence_windows"] >= 2).all()
    assert (uni["action"] == "retrain").all() and (uni["effect_size"].abs() >= 0.1).all()
    assert uni["reason"].str.startswith("mlhops.drift_metrics: ").all()
    mv = t[t["kind"] == "multivariate_drift"]
    assert min(mv["window_start"]) == DRIFT_FROM + WEEK and (mv["detector"] == "mmd").all()
    assert mv["reason"].str.startswith("mlhops.multivariate_drift: ").all()


def test_every_drift_trigger_is_backed_by_the_detector_flags_it_names(spark, monitored):
    m = monitored
    flags = _flagged(spark, m, "mlhops.drift_metrics") | _flagged(spark, m, "mlhops.multivariate_drift")
    t = _table(spark, m, "mlhops.model_triggers")
    drift = t[t["kind"].isin(["feature_drift", "multivariate_drift"])]
    assert len(drift) >= 4
    for r in drift.itertuples():
        weeks = [r.evidence_start + i * WEEK for i in range(int(r.evidence_windows))]
        assert weeks[-1] + WEEK == r.evidence_end
        assert all((r.detector, r.feature, w) in flags for w in weeks), (r.kind, r.window_start)
        # the shift is confirmed in a drift window overlapping the trigger's model window
        assert r.evidence_end > r.window_start and weeks[-1] < r.window_end


def _labelled_on(features: pd.DataFrame, start: dt.date) -> dt.date:
    """The day 90 % of a window's index visits had final labels (discharge + 30-day horizon)."""
    days = pd.to_datetime(features["event_date"]).dt.date
    ends = sorted(d + dt.timedelta(days=30) for d in days if start <= d < start + WEEK)
    return ends[math.ceil(LABELLED_FRACTION * len(ends)) - 1]


def test_windows_the_detectors_flag_get_urgent_label_requests_closed_when_labels_arrive(spark, monitored):
    m = monitored
    first = m.tables["requests_first"]
    drift_asked = first[first["reason"].str.startswith("drift detectors flagged the window: ")]
    assert not drift_asked.empty and (drift_asked["priority"] == 1).all()
    assert (drift_asked["window_start"] >= DRIFT_FROM).all()
    assert (first["status"] == "open").all() and (first["planned_as_of"] == FIRST_AS_OF).all()
    final = _table(spark, m, "mlhops.label_requests").set_index("window_start")
    assert set(final.index) == set(first["window_start"])
    for start, r in final.iterrows():
        assert r["status"] == "fulfilled" and r["closed_as_of"] == LATER_AS_OF
        assert r["planned_as_of"] == FIRST_AS_OF  # the re-plan did not restart the clock
        assert r["labelled_on"] == _labelled_on(m.features, start)
        assert r["days_to_label"] == (r["labelled_on"] - FIRST_AS_OF).days >= 0
    assert m.results["evaluate_later"].metrics["label_requests_closed"] == len(final)


def test_adwin_runs_beside_the_other_error_stream_detectors(spark, monitored):
    d = _table(spark, monitored, "mlhops.model_drift")
    adwin = d[d["detector"] == "adwin_brier"]
    assert len(adwin) == d["window_start"].nunique() and (adwin["threshold"] == 0.002).all()
    assert not adwin[adwin["window_start"] < DRIFT_FROM]["drift"].any()


def test_an_older_table_without_the_new_columns_keeps_its_rows_and_history(spark, monitored, tmp_path):
    from mlhops.io import write_overwrite

    m = monitored
    cat = Catalog(str(tmp_path / "wh"))
    current = read_table(spark, Catalog(m.settings.warehouse), LABEL_REQUESTS)
    old_cols = [c for c in current.columns if c not in ("closed_as_of", "labelled_on", "days_to_label")]
    opened = current.where("status = 'fulfilled'").select(*old_cols).selectExpr(
        *[c if c != "status" else "'open' AS status" for c in old_cols])
    write_overwrite(opened, cat, LABEL_REQUESTS)
    before = table_version(spark, cat, LABEL_REQUESTS)
    rows = [r.asDict() for r in current.collect()]
    merge_rows(spark, cat, LABEL_REQUESTS_SPEC, rows)
    after = read_table(spark, cat, LABEL_REQUESTS).toPandas()
    assert list(after.columns) == LABEL_REQUESTS_SPEC.columns
    assert len(after) == len(rows) and (after["status"] == "fulfilled").all()
    assert (after["days_to_label"] >= 0).all()
    assert table_version(spark, cat, LABEL_REQUESTS) > before
    first = spark.read.format("delta").option("versionAsOf", before).load(cat.path(LABEL_REQUESTS))
    assert first.count() == len(rows) and "days_to_label" not in first.columns
    assert np.isin(["closed_as_of", "labelled_on", "days_to_label"], after.columns).all()
