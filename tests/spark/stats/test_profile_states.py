"""Profile metrics from mergeable states equal pandas/NumPy on the same feature rows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from datasketches import kll_doubles_sketch
from pyspark.sql import functions as F

from mlhops.config.stages import SliceSettings, StatsSettings
from mlhops.io.tables.monitoring import WINDOW_KEYS
from mlhops.stats import windows as W
from mlhops.stats.profile import profile_metrics
from mlhops.stats.states import compute_states, merge_states

STATS = StatsSettings(slices=(SliceSettings("sex", "sex"),), granularities=("day", "month"))
NUMERIC = ["age", "sbp_last", "heart_rate_mean", "n_procedures"]
CATEGORICAL = ["visit_type", "race"]


@pytest.fixture(scope="module")
def rows(export_features):
    df, specs = export_features
    keep = [s for s in specs if s.name in NUMERIC + CATEGORICAL + ["sex"]]
    recent = df.where((F.col("event_date") >= "2016-01-01") & (F.col("event_date") < "2019-01-01"))
    return recent.select("event_date", *[s.name for s in keep]).cache(), keep


@pytest.fixture(scope="module")
def month_metrics(rows):
    df, specs = rows
    days = compute_states(df, specs, STATS).drop("granularity", "window_end")
    months = merge_states(W.tumbling(days, "month"), list(WINDOW_KEYS), STATS.max_categories)
    metrics = profile_metrics(months, None, STATS.quantiles, STATS.top_k).toPandas()
    pdf = df.toPandas()
    pdf["month"] = pd.to_datetime(pdf["event_date"]).dt.to_period("M").dt.start_time.dt.date
    return metrics, pdf


def _metric(metrics, month, feature, slice_="all", value="all"):
    row = metrics[
        (metrics.window_start == month) & (metrics.feature == feature)
        & (metrics.slice == slice_) & (metrics.slice_value == value)
    ]
    assert len(row) == 1
    return row.iloc[0]


def test_monthly_counts_moments_and_extremes_equal_pandas(month_metrics):
    metrics, pdf = month_metrics
    checked = 0
    for month, group in pdf.groupby("month"):
        for feature in NUMERIC:
            x = group[feature]
            m = _metric(metrics, month, feature)
            assert m.n_rows == len(x) and m.n_null == x.isna().sum() and m.n == x.notna().sum()
            if x.notna().sum() == 0:
                assert pd.isna(m["mean"]) and m.quantiles is None
                continue
            assert m["mean"] == pytest.approx(x.mean(), rel=1e-12)
            assert m["min"] == x.min() and m["max"] == x.max()
            if x.notna().sum() > 1:
                assert m.stddev == pytest.approx(x.std(ddof=1), rel=1e-9, abs=1e-12)
            checked += 1
    assert checked > 50


def test_quantiles_are_exact_while_the_sketch_holds_every_value(month_metrics):
    metrics, pdf = month_metrics
    for month, group in pdf.groupby("month"):
        x = group["age"].dropna().to_numpy()
        assert len(x) <= STATS.kll_k  # the bound: exact below k values
        got = {q["q"]: q["value"] for q in _metric(metrics, month, "age").quantiles}
        for q in STATS.quantiles:
            assert got[q] == pytest.approx(np.quantile(x, q, method="inverted_cdf"))


def test_distinct_counts_and_top_k_equal_pandas(month_metrics):
    metrics, pdf = month_metrics
    for month, group in pdf.groupby("month"):
        for feature in CATEGORICAL:
            m = _metric(metrics, month, feature)
            counts = group[feature].value_counts()
            top = [(t["value"], t["count"]) for t in m.top_k]
            expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: STATS.top_k]
            assert top == [(k, int(v)) for k, v in expected]
            # HLL relative standard error at lg_k=12 is 1.6%; small sets are counted exactly.
            assert m.distinct_approx == pytest.approx(group[feature].nunique(), rel=0.05)


def test_small_cells_publish_counts_only_and_top_k_drops_rare_categories(rows):
    df, specs = rows
    days = compute_states(df, specs, STATS).drop("granularity", "window_end")
    months = merge_states(W.tumbling(days, "month"), list(WINDOW_KEYS), STATS.max_categories)
    m = profile_metrics(months, None, STATS.quantiles, STATS.top_k, min_cell=11).toPandas()
    numeric = m[m.feature.isin(NUMERIC)]
    small, large = numeric[numeric.n < 11], numeric[numeric.n >= 11]
    assert len(small) > 0 and len(large) > 0  # both kinds of cell in the sample's slices
    for col in ("mean", "stddev", "min", "max", "distinct_approx"):
        assert small[col].isna().all(), col
    assert small.quantiles.isna().all()
    assert large["min"].notna().all() and large["max"].notna().all()
    assert (small.n_rows >= small.n).all()  # the counts stay
    tops = [t for lst in m[m.feature.isin(CATEGORICAL)].top_k if lst is not None for t in lst]
    assert tops and min(t["count"] for t in tops) >= 11


def test_slices_partition_the_population(month_metrics):
    metrics, pdf = month_metrics
    for month, group in pdf.groupby("month"):
        for sex, part in group.groupby("sex"):
            m = _metric(metrics, month, "sbp_last", "sex", sex)
            assert m.n_rows == len(part) and m.n == part["sbp_last"].notna().sum()


def test_sliding_and_cumulative_windows_merge_to_the_rows_they_cover(rows):
    df, specs = rows
    days = compute_states(df, specs, STATS).drop("granularity", "window_end")
    slid = merge_states(W.sliding(days, 28), list(WINDOW_KEYS), STATS.max_categories)
    metrics = profile_metrics(slid, None, STATS.quantiles, STATS.top_k).where(
        "slice = 'all' AND feature = 'age'"
    ).toPandas()
    pdf = df.select("event_date", "age").toPandas()
    dates = pd.to_datetime(pdf.event_date).dt.date
    for row in metrics.sample(10, random_state=3).itertuples():
        inside = pdf[(dates >= row.window_start) & (dates < row.window_end)]["age"]
        assert row.window_end.weekday() == 0 and (row.window_end - row.window_start).days == 28
        assert row.n == inside.notna().sum()
        assert row.mean == pytest.approx(inside.mean(), rel=1e-12)


def test_histogram_counts_per_baseline_bin_equal_numpy(rows):
    df, specs = rows
    pdf = df.toPandas()
    ages = pdf["age"].dropna().to_numpy()
    # Edges are data values, so the (lo, hi] convention of the bins is exercised.
    edges = np.unique(np.quantile(ages, [0.2, 0.4, 0.6, 0.8], method="inverted_cdf")).astype(float)
    bins = {"age": edges.tolist()}
    days = compute_states(df, specs, STATS).drop("granularity", "window_end")
    months = merge_states(W.tumbling(days, "month"), list(WINDOW_KEYS), STATS.max_categories)
    # The whole period through small sketches (k=32 < n/2), so the sketch has compacted.
    small = dataclasses.replace(STATS, kll_k=32)
    whole = merge_states(
        compute_states(df, specs, small).withColumns(
            {"granularity": F.lit("whole"), "window_start": F.lit(None).cast("date"),
             "window_end": F.lit(None).cast("date")}
        ),
        list(WINDOW_KEYS),
        STATS.max_categories,
    )
    metrics = profile_metrics(months.unionByName(whole), bins, STATS.quantiles, STATS.top_k).where(
        "feature = 'age' AND slice = 'all'"
    ).toPandas()

    def numpy_counts(x):
        return np.bincount(np.searchsorted(edges, x, side="left"), minlength=len(edges) + 1)

    pdf["month"] = pd.to_datetime(pdf["event_date"]).dt.to_period("M").dt.start_time.dt.date
    for month, group in pdf.groupby("month"):
        x = group["age"].dropna().to_numpy()
        m = _metric(metrics, month, "age")
        assert list(m.hist_edges) == edges.tolist()
        # exact while the sketch holds every value (n <= kll_k)
        assert list(m.hist_counts) == numpy_counts(x).tolist()
    total = metrics[metrics.granularity == "whole"].iloc[0]
    assert total.n == len(ages) > 2 * small.kll_k
    # the stated bound: each bin within 2 x n x the sketch's normalized (PMF) rank error
    bound = 2 * kll_doubles_sketch.get_normalized_rank_error(small.kll_k, True) * len(ages)
    assert np.all(np.abs(np.array(total.hist_counts) - numpy_counts(ages)) <= bound)
    assert sum(total.hist_counts) == len(ages)
