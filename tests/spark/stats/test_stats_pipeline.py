"""The stats stage end to end: planted shifts are flagged where they are; incremental == full."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest
from pyspark.sql import functions as F

from mlhops.drift import univariate_spark as UD
from mlhops.io import Catalog, read_table, table_version
from mlhops.io.tables.monitoring import (
    DRIFT_METRICS,
    PROFILE_BINS,
    PROFILE_METRICS,
    PROFILE_STATES,
    STAGE_WATERMARKS,
)
from mlhops.pipelines.context import Context
from mlhops.pipelines.orchestrate import run_stage
from mlhops.pipelines.stage import StageRequest
from tests.spark.stats.conftest import write_features

SHIFT_WEEK = dt.date(2024, 2, 12)  # week 7
AGE_WEEK = dt.date(2024, 2, 19)  # week 8
MISSING_WEEK = dt.date(2024, 2, 26)  # week 9


def _week(pdf, start):
    d = np.array(pdf["event_date"].tolist())
    return (d >= start) & (d < start + dt.timedelta(days=7))


def _run_stats(spark, settings, run_id, **request):
    """The stats stage through the orchestrator (as the CLI runs it); its result."""
    outcome = run_stage(Context.build(settings, spark), "stats", StageRequest(run_id=run_id, **request))
    assert outcome.result is not None
    return outcome.result


def _drift(spark, settings):
    return read_table(spark, Catalog(settings.warehouse), DRIFT_METRICS).toPandas()


def test_planted_shifts_are_flagged_in_their_window_and_feature_only(spark, stats_settings, diabetes_rows):
    settings = stats_settings()
    pdf = diabetes_rows.copy()
    unit = _week(pdf, SHIFT_WEEK)
    pdf.loc[unit, "lab_procedures"] *= 2.0  # a lab reported in another unit
    young = _week(pdf, AGE_WEEK) & (pdf["age"] < 60)
    pdf = pdf[~young | (np.arange(len(pdf)) % 5 == 0)]  # age mix: most young patients gone
    gone = _week(pdf, MISSING_WEEK) & (pdf["care_site_id"] == 2)
    pdf.loc[gone, "lab_procedures"] = np.nan  # the lab goes missing at one site
    write_features(spark, settings, pdf)

    result = _run_stats(spark, settings, "t")
    assert result.status == "ok"
    drift = _drift(spark, settings)
    ks = drift[(drift.detector == "ks") & (drift.slice == "all") & (drift.reference == "baseline")]
    flagged = {(r.window_start.date(), r.feature) for r in ks.itertuples() if r.drift}
    assert (SHIFT_WEEK, "lab_procedures") in flagged
    assert (AGE_WEEK, "age") in flagged
    lab_weeks = {w for w, f in flagged if f == "lab_procedures"}
    assert lab_weeks == {SHIFT_WEEK}
    assert {w for w, f in flagged if f == "age"} == {AGE_WEEK}
    # Against the previous week the unit change is flagged when it starts and when it ends.
    prev = drift[(drift.detector == "ks") & (drift.slice == "all") & (drift.reference == "previous")
                 & (drift.feature == "lab_procedures") & drift.drift]
    assert {r.window_start.date() for r in prev.itertuples()} >= {SHIFT_WEEK, SHIFT_WEEK + dt.timedelta(days=7)}

    profile = read_table(spark, Catalog(settings.warehouse), PROFILE_METRICS).toPandas()
    site = profile[(profile.granularity == "week") & (profile.slice == "site") & (profile.feature == "lab_procedures")]
    null_frac = {(r.window_start, r.slice_value): r.null_fraction for r in site.itertuples()}
    assert null_frac[(MISSING_WEEK, "2")] == 1.0
    assert null_frac[(MISSING_WEEK, "1")] == 0.0 and null_frac[(SHIFT_WEEK, "2")] == 0.0


def test_windows_below_the_minimum_sample_are_not_tested(spark, stats_settings, diabetes_rows):
    settings = stats_settings(drift={"granularities": ["week"], "min_samples": 100000})
    write_features(spark, settings, diabetes_rows)
    _run_stats(spark, settings, "t")
    drift = _drift(spark, settings)
    assert len(drift) > 0
    assert set(drift.status) == {"insufficient_data"} and not drift.drift.any()


def _sorted_table(spark, settings, name, keys):
    pdf = read_table(spark, Catalog(settings.warehouse), name).toPandas()
    return pdf.sort_values(keys).reset_index(drop=True)


@pytest.mark.heavy
def test_incremental_run_after_late_and_updated_rows_equals_full_recompute(
    spark, stats_settings, diabetes_rows, tmp_path_factory
):
    settings = stats_settings(cumulative=True, cumulative_months=3)
    rows = diabetes_rows
    first = rows[np.array(rows["event_date"].tolist()) < dt.date(2024, 3, 4)]
    write_features(spark, settings, first)
    _run_stats(spark, settings, "full")

    # Next night: a new week, one late row in week 2, one corrected value in week 3.
    late = rows[np.array(rows["event_date"].tolist()) >= dt.date(2024, 3, 4)].copy()
    late_row = first.iloc[[0]].copy()
    late_row["visit_occurrence_id"] = 10_000_000
    late_row["event_date"] = dt.date(2024, 1, 9)
    fixed = first[_week(first, dt.date(2024, 1, 15))].iloc[[0]].copy()
    fixed["lab_procedures"] = 999.0
    import pandas as pd

    write_features(spark, settings, pd.concat([late, late_row, fixed]))
    # This night commits one table after another; the next one side by side (the default).
    one_by_one = dataclasses.replace(settings, stats=dataclasses.replace(settings.stats, concurrent_commits=1))
    result = _run_stats(spark, one_by_one, "incremental")
    assert result.message.startswith("incremental")
    assert result.metrics["days_recomputed"] < 20

    # The night after: one new day. Its cumulative window reuses the stored one ending on the
    # 1st of its month instead of re-merging the whole history; the result must be the same.
    new_day = late.iloc[:40].copy()
    new_day["visit_occurrence_id"] = np.arange(20_000_000, 20_000_040)
    new_day["event_date"] = dt.date(2024, 3, 12)
    new_day["event_time"] = pd.Timestamp("2024-03-12 10:00")
    write_features(spark, settings, new_day)
    cat = Catalog(settings.warehouse)
    outputs = (PROFILE_STATES, PROFILE_METRICS, DRIFT_METRICS, STAGE_WATERMARKS)
    before_night = {n: table_version(spark, cat, n) for n in outputs}
    nightly = _run_stats(spark, settings, "nightly")
    assert nightly.metrics["days_recomputed"] == 1.0
    # One commit per table: the day's state and all its windows' states go in together.
    assert {n: table_version(spark, cat, n) for n in outputs} == {n: v + 1 for n, v in before_night.items()}

    final = pd.concat(
        [first[first.visit_occurrence_id != fixed.visit_occurrence_id.iloc[0]], late, late_row, fixed, new_day]
    )
    fresh = stats_settings(cumulative=True, cumulative_months=3)
    fresh = dataclasses.replace(fresh, warehouse=str(tmp_path_factory.mktemp("fresh")))
    write_features(spark, fresh, final)
    _run_stats(spark, fresh, "full2")

    # Cumulative windows share their start: the end is part of the key.
    keys = ["granularity", "window_start", "window_end", "slice", "slice_value", "feature"]
    a = _sorted_table(spark, settings, PROFILE_METRICS, keys)
    b = _sorted_table(spark, fresh, PROFILE_METRICS, keys)
    assert a[keys].equals(b[keys])
    assert (a.granularity == "cumulative").sum() > 0
    for col in ("n_rows", "n_null", "n", "min", "max"):
        assert a[col].equals(b[col]), col
    assert np.allclose(a["mean"].astype(float), b["mean"].astype(float), rtol=1e-12, equal_nan=True)
    assert np.allclose(a["stddev"].astype(float), b["stddev"].astype(float), rtol=1e-9, equal_nan=True)
    assert [list(map(tuple, t)) if t is not None else None for t in a.top_k] == [
        list(map(tuple, t)) if t is not None else None for t in b.top_k
    ]
    dkeys = ["detector", "granularity", "window_start", "slice", "slice_value", "reference", "feature"]
    da = _sorted_table(spark, settings, DRIFT_METRICS, dkeys)
    db = _sorted_table(spark, fresh, DRIFT_METRICS, dkeys)
    assert da[dkeys].equals(db[dkeys])
    chi = da.detector == "chi2"
    assert np.allclose(da.statistic[chi].astype(float), db.statistic[chi].astype(float), equal_nan=True)
    ks = da.detector == "ks"
    assert np.nanmax(np.abs(da.statistic[ks].astype(float) - db.statistic[ks].astype(float))) <= 0.05

    # Re-running with nothing new leaves every table as it is, without a commit.
    before = {n: read_table(spark, cat, n).count() for n in (PROFILE_STATES,)}
    versions = {n: table_version(spark, cat, n) for n in outputs}
    again = _run_stats(spark, settings, "again")
    assert again.metrics["days_recomputed"] == 0.0
    assert before == {n: read_table(spark, cat, n).count() for n in before}
    assert versions == {n: table_version(spark, cat, n) for n in outputs}

    # A night tests its few pairs on the driver: the same results as the pandas UDF of a full run.
    states = read_table(spark, cat, PROFILE_STATES)
    bins = read_table(spark, cat, PROFILE_BINS)
    current = states.where(F.col("granularity") == "week")
    pairs = UD.pair_with_baseline(current, states.where(F.col("granularity") == "baseline"), bins).unionByName(
        UD.pair_with_previous(current, states, bins)
    )
    on_driver = UD.test_pairs_on_driver(pairs, settings.stats.drift).toPandas()
    in_udf = UD.test_pairs(pairs, settings.stats.drift).toPandas()
    assert len(in_udf) > 0 and set(in_udf.reference) == {"baseline", "previous"}
    # the UDF path writes rows below the minimum sample in Spark: both kinds of row are compared
    assert set(in_udf.status) == {"ok", "insufficient_data"}
    on_driver, in_udf = (t.sort_values(dkeys, ignore_index=True) for t in (on_driver, in_udf))
    pd.testing.assert_frame_equal(on_driver.drop(columns=["extra"]), in_udf.drop(columns=["extra"]), rtol=1e-12)
    assert on_driver.extra.tolist() == in_udf.extra.tolist()


@pytest.mark.heavy
def test_a_forced_run_killed_between_its_commits_is_completed_by_the_next_run(
    spark, stats_settings, diabetes_rows, monkeypatch
):
    from mlhops.io import delete_where
    from mlhops.pipelines import stats as stage

    settings = stats_settings()
    write_features(spark, settings, diabetes_rows[np.array(diabetes_rows["event_date"].tolist()) < dt.date(2024, 3, 4)])
    _run_stats(spark, settings, "first")
    keys = ["granularity", "window_start", "window_end", "slice", "slice_value", "feature"]
    complete = _sorted_table(spark, settings, PROFILE_METRICS, keys)

    def dies_half_way(spark_, cat, *args, **kwargs):
        # a recompute that rewrote some windows' metrics (here: removed them) and then died
        delete_where(spark_, cat, PROFILE_METRICS, "window_start >= '2024-02-01'")
        raise RuntimeError("killed")

    monkeypatch.setattr(stage, "update_profiles", dies_half_way)
    outcome = run_stage(Context.build(settings, spark), "stats", StageRequest(run_id="forced", force=True))
    assert outcome.status == "failed"
    assert len(_sorted_table(spark, settings, PROFILE_METRICS, keys)) < len(complete)
    monkeypatch.undo()

    # No new feature rows, yet the next plain run sees the unfinished recompute and redoes it all.
    after = _run_stats(spark, settings, "next")
    assert after.message.startswith("full")
    repaired = _sorted_table(spark, settings, PROFILE_METRICS, keys)
    assert repaired[keys].equals(complete[keys])
    assert repaired["n"].equals(complete["n"])
    # ... and the one after is incremental again, with nothing to do.
    assert _run_stats(spark, settings, "then").metrics["days_recomputed"] == 0.0
