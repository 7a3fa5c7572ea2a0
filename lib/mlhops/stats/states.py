"""Mergeable per-window feature states: the one pass over feature rows, and their merge.

A *state* summarises one feature in one window of one slice so that two states of disjoint
windows merge into the state of their union without the raw rows:

* counts: ``n_rows`` (rows), ``n_null`` (null values), ``n`` (non-null values) - summed;
* moments: ``mean`` and ``m2`` (sum of squared deviations) - merged with Chan et al.'s
  pairwise formula (exact up to floating point);
* ``min`` / ``max`` - min / max;
* ``kll``: a DataSketches KLL quantile sketch (built on executors by
  :mod:`mlhops.stats.fine_pass`, same binary format as Spark's ``kll_sketch_agg_double``),
  merged with ``kll_merge_agg_double``. Normalized rank error about 1.65% at k=200 (1.33% single-sided);
  exact while a sketch has seen at most k values;
* ``hll``: a DataSketches HLL distinct-count sketch (same format as ``hll_sketch_agg``),
  merged with ``hll_union_agg``. Relative standard error 1.04/sqrt(2^lg_k) (1.6% at lg_k=12);
* ``counts``: category -> count for categorical and binary features (exact up to
  ``max_categories`` categories per state; rarer ones pooled under ``__other__``).

Numeric and binary features get moments and sketches; categorical and binary ones get counts.
The base grain is one UTC day (``day``); every coarser, sliding or cumulative window is a merge.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema

from mlhops.config.stages import SliceSettings, StatsSettings
from mlhops.features.spec import FeatureSpec
from mlhops.io.tables.monitoring import SLICE_KEYS, STATE_SCHEMA, STATE_VALUE_FIELDS
from mlhops.stats.fine_pass import ALL, OTHER_CATEGORY, FineFeature, chunk_states

# Slice value of rows whose slicing expression is null.
UNKNOWN_SLICE_VALUE = "unknown"


def _has_moments(spec: FeatureSpec) -> bool:
    return spec.kind in ("numeric", "binary")


def _has_counts(spec: FeatureSpec) -> bool:
    return spec.kind in ("categorical", "binary")


def _slice_value(s: SliceSettings) -> Column:
    return F.coalesce(F.expr(s.expr).cast("string"), F.lit(UNKNOWN_SLICE_VALUE))


def slice_columns(slices: Sequence[SliceSettings]) -> list[Column]:
    """One ``struct(slice, slice_value)`` per slice, the whole population (``all``) first."""
    cols = [F.struct(F.lit(ALL).alias("slice"), F.lit(ALL).alias("slice_value"))]
    for s in slices:
        cols.append(F.struct(F.lit(s.name).alias("slice"), _slice_value(s).alias("slice_value")))
    return cols


def with_slices(df: DataFrame, slices: Sequence[SliceSettings]) -> DataFrame:
    """Each row once per slice, with ``slice`` and ``slice_value`` columns."""
    exploded = df.withColumn("_slice", F.explode(F.array(*slice_columns(slices))))
    return exploded.withColumns(
        {"slice": F.col("_slice.slice"), "slice_value": F.col("_slice.slice_value")}
    ).drop("_slice")


def compute_states(
    rows: DataFrame,
    specs: Sequence[FeatureSpec],
    stats: StatsSettings,
    *,
    day_col: str = "event_date",
) -> DataFrame:
    """Day states of every feature and slice from feature rows, in one pass over the rows.

    The rows are read once and grouped by day; an executor turns each day's rows into the state
    of every slice (``all``, ``sex=...``, ``site=...``) and feature with vectorised NumPy and
    DataSketches (:mod:`mlhops.stats.fine_pass`). Raw rows are never exploded per slice, and
    the sketches are the DataSketches images Spark's merge functions read.

    Args:
        rows: feature-table rows (``day_col`` plus one column per feature).
        specs: the features to summarise.
        stats: sketch sizes, category cap and slices.
        day_col: the date column whose UTC day is the state's window.

    Returns:
        A DataFrame with :data:`STATE_SCHEMA`.
    """
    slice_cols = [_slice_value(s).alias(f"_s{i}") for i, s in enumerate(stats.slices)]
    inputs: list[Column] = []
    fine_features = []
    for i, spec in enumerate(specs):
        c = F.col(f"`{spec.name}`")
        value_col = f"_x{i}" if _has_moments(spec) else None
        string_col = f"_c{i}" if _has_counts(spec) else None
        if value_col:
            inputs.append(c.cast("double").alias(value_col))
        if string_col:
            inputs.append(c.cast("string").alias(string_col))
        fine_features.append(FineFeature(spec.name, spec.kind, value_col, string_col))
    base = rows.select(F.col(day_col).cast("date").alias("day"), *slice_cols, *inputs)
    feats, names = tuple(fine_features), tuple(s.name for s in stats.slices)
    kll_k, hll_lg_k, max_categories = stats.kll_k, stats.hll_lg_k, stats.max_categories
    schema = to_arrow_schema(STATE_SCHEMA)

    def fn(table: pa.Table) -> pa.Table:  # applyInArrow reads the signature: one argument
        return chunk_states(table, feats, names, kll_k, hll_lg_k, max_categories, schema)

    # One Python call per calendar month of rows (whole days, amortised fixed cost).
    return base.groupBy(F.trunc("day", "month").alias("_month")).applyInArrow(fn, schema=STATE_SCHEMA)


def cap_categories(counts: DataFrame, keys: list[str], max_categories: int) -> DataFrame:
    """``(keys, value, count)`` rows -> ``(keys, counts map)``, pooling rare categories.

    The ``max_categories`` most frequent values (ties by value) keep their own entry; the rest
    are summed under ``__other__``. Map entries are sorted by value, so reruns are identical.
    """
    rank = F.row_number().over(Window.partitionBy(*keys).orderBy(F.col("count").desc(), F.col("value")))
    capped = counts.withColumn(
        "value", F.when(rank <= max_categories, F.col("value")).otherwise(F.lit(OTHER_CATEGORY))
    )
    pooled = capped.groupBy(*keys, "value").agg(F.sum("count").cast("long").alias("count"))
    return pooled.groupBy(*keys).agg(
        F.map_from_entries(F.array_sort(F.collect_list(F.struct("value", "count")))).alias("counts")
    )


def merge_states(states: DataFrame, by: Sequence[str], max_categories: int) -> DataFrame:
    """Merge states that share ``by`` + slice + feature into one state each.

    Args:
        states: rows with the state value columns (:data:`STATE_VALUE_FIELDS`) and ``by``.
        by: columns naming the target window (e.g. ``granularity, window_start, window_end``).
        max_categories: category cap of the merged counts.

    Returns:
        ``by`` + ``slice, slice_value, feature, kind`` + the merged state values.
    """
    keys = [*by, *SLICE_KEYS]
    w = Window.partitionBy(*keys)
    weighted = F.when(F.col("n") > 0, F.col("n") * F.col("mean"))
    grand_mean = F.sum(weighted).over(w) / F.sum(F.when(F.col("n") > 0, F.col("n"))).over(w)
    centered = states.withColumn("_gm", grand_mean)
    # Chan et al.: M2 = sum(m2_i) + sum(n_i * (mean_i - mean)^2), with the grand mean first.
    dev = F.when(F.col("n") > 0, F.col("m2") + F.col("n") * (F.col("mean") - F.col("_gm")) ** 2)
    merged = centered.groupBy(*keys).agg(
        F.sum("n_rows").cast("long").alias("n_rows"),
        F.sum("n_null").cast("long").alias("n_null"),
        F.sum("n").cast("long").alias("n"),
        F.first("_gm", ignorenulls=True).alias("mean"),
        F.sum(dev).alias("m2"),
        F.min("min").alias("min"),
        F.max("max").alias("max"),
        F.kll_merge_agg_double("kll").alias("kll"),
        F.hll_union_agg("hll").alias("hll"),
    )
    merged = merged.withColumns(
        {
            "mean": F.when(F.col("kind") != "categorical", F.col("mean")),
            "m2": F.when(F.col("kind") != "categorical", F.col("m2")),
            "kll": F.when((F.col("n") > 0) & (F.col("kind") != "categorical"), F.col("kll")),
            "hll": F.when(F.col("n") > 0, F.col("hll")),
        }
    )
    entries = (
        states.where(F.col("counts").isNotNull())
        .select(*keys, F.explode("counts").alias("value", "count"))
        .groupBy(*keys, "value")
        .agg(F.sum("count").cast("long").alias("count"))
    )
    counts = cap_categories(entries, keys, max_categories)
    return merged.join(counts, on=keys, how="left").select(*keys, *[f.name for f in STATE_VALUE_FIELDS])
