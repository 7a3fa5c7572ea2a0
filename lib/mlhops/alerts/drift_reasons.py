"""What a multivariate drift alert names as its reasons, read from ``mlhops.drift_explanations``:
the features its detector relied on most and the slice value that carries the shift.

Only configuration names (features, slices, slice values) and numbers reach a message, never a
sample value (the explanation table holds none).
"""

from __future__ import annotations

from itertools import chain

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from mlhops.alerts.candidates import optional_table
from mlhops.drift.explain import DETECTOR_METHODS, SLICE_STATISTIC
from mlhops.drift.result import ALL_SLICE
from mlhops.io import Catalog
from mlhops.io.tables.monitoring import DRIFT_EXPLANATIONS

# Features a message names ("driven by a, b"); the report and notebook show more.
NAMED_FEATURES = 2
WINDOW = ["granularity", "window_start"]


def _primary_method() -> Column:
    """The method whose ranking names a detector's features (the first of ``DETECTOR_METHODS``)."""
    pairs = chain.from_iterable((F.lit(det), F.lit(methods[0])) for det, methods in DETECTOR_METHODS.items())
    return F.create_map(*pairs)[F.col("detector")]


def drivers(explanations: DataFrame, n: int = NAMED_FEATURES) -> DataFrame:
    """Per window, slice value and detector: ``drivers``, its ``n`` best-ranked features, in rank order."""
    top = explanations.where((F.col("method") == _primary_method()) & (F.col("rank") <= n))
    ranked = top.groupBy(*WINDOW, "slice", "slice_value", "detector").agg(
        F.array_sort(F.collect_list(F.struct("rank", "feature"))).alias("_top"))
    return ranked.select(*WINDOW, "slice", "slice_value", "detector",
                         F.concat_ws(", ", F.transform("_top", lambda s: s["feature"])).alias("drivers"))


def carriers(explanations: DataFrame) -> DataFrame:
    """Per window and detector: ``carrier`` (``slice=value``), the slice value ranked first in its
    slice with the smallest p-value (largest statistic on ties)."""
    firsts = explanations.where((F.col("method") == SLICE_STATISTIC) & (F.col("rank") == 1))
    w = Window.partitionBy(*WINDOW, "detector").orderBy(F.col("p_value").asc_nulls_last(), F.col("score").desc(),
                                                         "slice", "slice_value")
    return firsts.withColumn("_n", F.row_number().over(w)).where(F.col("_n") == 1).select(
        *WINDOW, "detector", F.concat_ws("=", "slice", "slice_value").alias("carrier"))


def with_reasons(spark: SparkSession, catalog: Catalog, results: DataFrame) -> DataFrame:
    """``results`` (multivariate drift rows) with ``drivers`` and ``carrier`` (null when unexplained)."""
    ex = optional_table(spark, catalog, DRIFT_EXPLANATIONS)
    if ex is None:
        return results.withColumn("drivers", F.lit(None).cast("string")).withColumn("carrier",
                                                                                   F.lit(None).cast("string"))
    return results.join(drivers(ex), [*WINDOW, "slice", "slice_value", "detector"], "left") \
        .join(carriers(ex), [*WINDOW, "detector"], "left")


def reasons_text() -> Column:
    """``in site=2, driven by a, b`` for a slice value's alert, ``carried most by site=2, driven by
    a, b`` for the whole population's; empty when neither is known."""
    where = F.when(F.col("slice") != F.lit(ALL_SLICE), F.concat(F.lit("in "), F.concat_ws("=", "slice", "slice_value"))) \
        .otherwise(F.when(F.col("carrier").isNotNull(), F.concat(F.lit("carried most by "), F.col("carrier"))))
    driven = F.when(F.length(F.coalesce(F.col("drivers"), F.lit(""))) > 0, F.concat(F.lit("driven by "), F.col("drivers")))
    return F.concat_ws(", ", where, driven)
