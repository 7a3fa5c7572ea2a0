"""Building blocks of the rule evaluators: the candidate row shape, "latest window" and
consecutive-window streaks, optional source tables."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from mlhops.alerts.rules import AlertRule
from mlhops.alerts.store import CANDIDATE_SCHEMA
from mlhops.io import Catalog, read_table, table_exists

RUNBOOK_ROOT = "docs/runbooks/"


def empty(spark: SparkSession) -> DataFrame:
    """No candidates."""
    return spark.createDataFrame([], CANDIDATE_SCHEMA)


def candidates(
    df: DataFrame,
    rule: AlertRule,
    *,
    subject: Column,
    window_start: Column,
    window_end: Column,
    value: Column,
    threshold: Column,
    message: Column,
    current: Column,
) -> DataFrame:
    """Rows of ``df`` as alert candidates of ``rule`` (:data:`CANDIDATE_SCHEMA`)."""
    return df.select(
        F.lit(rule.id).alias("rule_id"),
        F.lit(rule.kind).alias("kind"),
        F.lit(rule.severity).alias("severity"),
        subject.cast("string").alias("subject"),
        window_start.cast("timestamp").alias("window_start"),
        window_end.cast("timestamp").alias("window_end"),
        value.cast("double").alias("value"),
        threshold.cast("double").alias("threshold"),
        message.alias("message"),
        F.lit(RUNBOOK_ROOT + rule.runbook).alias("runbook"),
        current.alias("is_current"),
    )


def or_nan(column: str) -> Column:
    """The column, with null as nan (for ``format_string``)."""
    return F.coalesce(column, F.lit(float("nan")))


def is_latest(source: DataFrame, column: str = "window_start") -> Column:
    """True for rows of the latest window present in the *source* table (not just the hits),
    so an old alert stops being current once a newer window exists."""
    latest = source.agg(F.max(column)).first()[0]
    return F.lit(False) if latest is None else (F.col(column) == F.lit(latest))


def only(df: DataFrame, column: str, rule: AlertRule) -> DataFrame:
    """Rows whose ``column`` is in the rule's ``only`` list (all rows when it is empty)."""
    return df.where(F.col(column).isin(list(rule.only))) if rule.only else df


def optional_table(spark: SparkSession, catalog: Catalog, name: str) -> DataFrame | None:
    """The table, or None when the stage that writes it has not run yet."""
    return read_table(spark, catalog, name) if table_exists(spark, catalog, name) else None


def streaks(df: DataFrame, keys: list[str], hit: Column) -> DataFrame:
    """Add ``streak``: consecutive windows (ordered by window_start) in which ``hit`` holds."""
    w = Window.partitionBy(*keys).orderBy("window_start")
    flagged = df.withColumn("_hit", hit.cast("int"))
    # a new group starts at every miss; within a group the streak is the running count of hits
    grp = flagged.withColumn("_grp", F.sum(1 - F.col("_hit")).over(w.rowsBetween(Window.unboundedPreceding, 0)))
    w2 = Window.partitionBy(*keys, "_grp").orderBy("window_start").rowsBetween(Window.unboundedPreceding, 0)
    return grp.withColumn("streak", F.sum("_hit").over(w2))
