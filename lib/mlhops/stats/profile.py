"""Profile metrics (``mlhops.profile_metrics``) read from merged window states.

Everything here is a projection of one state row: no raw feature rows are touched. Error
bounds: counts, nulls, mean, stddev, min and max are exact; quantiles come from the KLL sketch
(normalized rank error about 1.65% at k=200, exact while n <= k); histogram counts over the
baseline bins are n times the difference of the KLL sketch's ranks at the bin edges (exact while
n <= k, else each within 2 x n x the rank error); the distinct
count comes from the HLL sketch (relative standard error 1.04/sqrt(2^lg_k)); top-k counts are
exact up to ``max_categories`` categories per window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mlhops.io.tables.monitoring import PROFILE_SCHEMA, SLICE_KEYS, WINDOW_KEYS
from mlhops.stats.fine_pass import OTHER_CATEGORY


def bins_from_baseline(baseline: DataFrame, n_bins: int) -> DataFrame:
    """Histogram edges per numeric feature: the baseline's quantiles at i/n_bins (whole population).

    Bins are ``(-inf, e1], (e1, e2], ..., (ek, inf)``; repeated quantiles collapse.
    """
    ranks = F.array(*[F.lit(i / n_bins) for i in range(1, n_bins)])
    rows = baseline.where(
        (F.col("slice") == "all") & (F.col("kind") == "numeric") & F.col("kll").isNotNull()
    )
    return rows.select(
        "feature", F.array_distinct(F.kll_sketch_get_quantile_double("kll", ranks)).alias("edges")
    )


def _top_k(k: int, min_cell: int = 0) -> Column:
    return F.expr(
        f"""transform(slice(array_sort(filter(map_entries(counts),
                                              e -> e.key != '{OTHER_CATEGORY}' AND e.value >= {int(min_cell)}),
            (a, b) -> CASE WHEN a.value > b.value THEN -1 WHEN a.value < b.value THEN 1
                           WHEN a.key < b.key THEN -1 WHEN a.key > b.key THEN 1 ELSE 0 END), 1, {k}),
            e -> named_struct('value', e.key, 'count', e.value))"""
    )


def edges_by_feature(bins: DataFrame) -> dict[str, list[float]]:
    """``mlhops.profile_bins`` on the driver: ``{feature: edges}`` (one small row per numeric feature)."""
    return {r["feature"]: [float(e) for e in r["edges"]] for r in bins.select("feature", "edges").collect()}


def profile_metrics(
    states: DataFrame, bins: Mapping[str, Sequence[float]] | None, quantiles: Sequence[float], top_k: int,
    *, min_cell: int = 0,
) -> DataFrame:
    """Profile metrics (:data:`PROFILE_SCHEMA`) of every state row; histograms over ``bins``
    (:func:`edges_by_feature`), none without.

    Small cells (``min_cell``; 0 publishes everything): a row with fewer than ``min_cell`` values
    publishes its counts only (no mean, spread, extremes, quantiles, distinct count or histogram:
    with a handful of people they are those people's values), and top-k lists only categories
    counted at least ``min_cell`` times, in every window and slice.
    """
    n = F.col("n")
    large = n >= F.lit(min_cell)
    has_kll = F.col("kll").isNotNull() & (n > 0) & large
    qs = F.array(*[F.lit(float(q)) for q in quantiles])
    # The few bin edges are literals of the expression: Spark's KLL rank lookup takes constant
    # split points.
    edges: Column = F.lit(None).cast("array<double>")
    ranks: Column = F.lit(None).cast("array<double>")
    for i, (feature, split_points) in enumerate(sorted((bins or {}).items())):
        arr = F.array(*[F.lit(float(e)) for e in split_points]).cast("array<double>")
        rank = F.kll_sketch_get_rank_double("kll", arr) if split_points else arr
        is_feature = F.col("feature") == feature
        edges = F.when(is_feature, arr) if i == 0 else edges.when(is_feature, arr)  # type: ignore[union-attr]
        ranks = F.when(is_feature, rank) if i == 0 else ranks.when(is_feature, rank)  # type: ignore[union-attr]
    edge_ok = has_kll & edges.isNotNull()
    # Bin b (1-based) is (edges[b-1], edges[b]]: its count is n times the difference of the
    # sketch's inclusive ranks at its two edges (ranks are integer weights / n, so rounded).
    cdf = F.concat(F.array(F.lit(0.0)), ranks, F.array(F.lit(1.0)))
    hist = F.transform(
        F.sequence(F.lit(1), F.size("_cdf") - 1),
        lambda b: F.round((F.element_at(F.col("_cdf"), b + 1) - F.element_at(F.col("_cdf"), b)) * n),
    )
    out = states.withColumn("_cdf", F.when(edge_ok, cdf)).select(
        *WINDOW_KEYS,
        *SLICE_KEYS,
        "n_rows",
        "n_null",
        F.when(F.col("n_rows") > 0, F.col("n_null") / F.col("n_rows")).alias("null_fraction"),
        "n",
        F.when(large, F.col("mean")).alias("mean"),
        F.when(large & (n > 1) & F.col("m2").isNotNull(),
               F.sqrt(F.greatest(F.col("m2"), F.lit(0.0)) / (n - 1))).alias("stddev"),
        F.when(large, F.col("min")).alias("min"),
        F.when(large, F.col("max")).alias("max"),
        F.when(
            has_kll,
            F.arrays_zip(qs.alias("q"), F.kll_sketch_get_quantile_double("kll", qs).alias("value")),
        ).alias("quantiles"),
        F.when(large & F.col("hll").isNotNull(), F.round(F.hll_sketch_estimate("hll")).cast("long")).alias(
            "distinct_approx"
        ),
        F.when(edge_ok, edges).alias("hist_edges"),
        F.when(edge_ok, hist).alias("hist_counts"),
        F.when(F.col("counts").isNotNull(), _top_k(top_k, min_cell)).alias("top_k"),
    )
    return out.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in PROFILE_SCHEMA.fields])
