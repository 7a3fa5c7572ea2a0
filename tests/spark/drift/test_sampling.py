"""Seeded, capped Spark sampling: reproducible, per slice, proportional strata."""

from __future__ import annotations

import datetime as dt

from mlhops.config.stages import SliceSettings
from mlhops.drift.sampling import collect_sample, in_window, sample_rows, split_by_key


def _visits(spark, n: int = 400):
    rows = [
        (i, 1000 + i, dt.datetime(2024, 1, 1 + i % 20, 8), 1 + (i % 3), "F" if i % 4 == 0 else "M", float(i % 17))
        for i in range(n)
    ]
    return spark.createDataFrame(rows, "person_id int, visit_occurrence_id int, event_time timestamp, care_site_id int, sex string, lab double")


def test_same_seed_draws_the_same_rows_and_each_slice_value_is_capped(spark):
    df = _visits(spark).repartition(3)
    site = [SliceSettings("site", "cast(care_site_id AS string)")]
    a = collect_sample(sample_rows(df, cap=50, seed=7, slices=site))
    b = collect_sample(sample_rows(df.repartition(5), cap=50, seed=7, slices=site))
    assert a.equals(b)
    counts = a.groupby(["slice", "slice_value"]).size().to_dict()
    assert counts == {("all", "all"): 50, ("site", "1"): 50, ("site", "2"): 50, ("site", "3"): 50}
    c = collect_sample(sample_rows(df, cap=50, seed=8, slices=site))
    assert set(c["visit_occurrence_id"]) != set(a["visit_occurrence_id"])


def test_stratified_sample_keeps_stratum_proportions(spark):
    df = _visits(spark)
    s = collect_sample(sample_rows(df, cap=80, seed=1, method="stratified", strata=["sex"]))
    assert len(s) == 80
    assert s["sex"].value_counts().to_dict() == {"M": 60, "F": 20}


def test_window_filter_is_half_open(spark):
    df = _visits(spark)
    w = in_window(df, dt.date(2024, 1, 1), dt.date(2024, 1, 2)).collect()
    assert {r["event_time"].day for r in w} == {1}


def test_fit_and_reference_parts_are_disjoint_by_key_and_the_same_for_every_slice(spark):
    df = _visits(spark)
    site = [SliceSettings("site", "cast(care_site_id AS string)")]
    fit, ref = split_by_key(df, 0.5, seed=7)
    fit_ids = {r["visit_occurrence_id"] for r in fit.select("visit_occurrence_id").collect()}
    ref_ids = {r["visit_occurrence_id"] for r in ref.select("visit_occurrence_id").collect()}
    assert not fit_ids & ref_ids and len(fit_ids | ref_ids) == 400
    assert 150 <= len(fit_ids) <= 250
    again, _ = split_by_key(df.repartition(4), 0.5, seed=7)
    assert {r["visit_occurrence_id"] for r in again.select("visit_occurrence_id").collect()} == fit_ids
    # Every slice's reference sample is drawn from the reference part only.
    sampled = collect_sample(sample_rows(ref, cap=40, seed=7, slices=site))
    assert not set(sampled["visit_occurrence_id"]) & fit_ids


def test_windows_drawn_together_are_the_samples_each_window_draws_alone(spark, settings_factory, monkeypatch):
    """The drift stage collects consecutive windows in one job; each window's sample must be the
    one drawing that window alone gives (same rows, order and columns), batch edges included."""
    import pandas as pd

    from mlhops.drift import multivariate
    from mlhops.drift.multivariate import group_samples, window_samples, windows_between
    from tests.spark.drift.uci_features import uci_weeks
    from tests.unit.drift.uci import CATEGORICAL, FEATURES

    rows = uci_weeks(sites=3, nrows=2000)
    cols = ["person_id", "visit_occurrence_id", "event_time", "care_site_id", *(f.name for f in FEATURES)]
    df = spark.createDataFrame(rows[cols].astype({c: "object" for c in CATEGORICAL}))
    ds = settings_factory(drift={"granularity": "day", "sample_cap": 30, "one_row_per_person": True}).drift
    site = [SliceSettings("site", "cast(care_site_id AS string)")]
    features = [f.name for f in FEATURES]
    windows = windows_between(dt.date(2023, 12, 30), dt.date(2024, 1, 12), "day")  # two empty days first
    monkeypatch.setattr(multivariate, "SAMPLE_ROWS_PER_JOB", 4 * 30)  # four windows a job: edges inside

    together = list(window_samples(df, ds, site, features, windows))

    assert [(s, e) for s, e, _ in together] == windows
    for start, end, groups in together:
        alone = group_samples(collect_sample(sample_rows(
            in_window(df, start, end), cap=30, seed=ds.seed, slices=site, columns=features, one_per="person_id")))
        assert sorted(groups) == sorted(alone), start
        for key, frame in alone.items():
            pd.testing.assert_frame_equal(groups[key], frame)
    sizes = [len(g[("all", "all")]) for _, _, g in together if g]
    assert len(sizes) == len(windows) - 2 and set(sizes) == {30}  # real days hold more than the cap
