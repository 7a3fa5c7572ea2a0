"""One evaluator per rule kind: read a platform table, return alert candidates (no patient data).

Every evaluator returns a DataFrame with :data:`~mlhops.alerts.store.CANDIDATE_SCHEMA`; rules
whose source table does not exist yet (stage not run) produce no candidates.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from mlhops.alerts.rules import AlertRule
from mlhops.alerts.store import CANDIDATE_SCHEMA
from mlhops.io import Catalog, read_table, table_exists

Evaluator = Callable[[SparkSession, Catalog, AlertRule], DataFrame]

RUNBOOK_ROOT = "docs/runbooks/"


def _empty(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([], CANDIDATE_SCHEMA)


def _candidates(
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


def _is_latest(source: DataFrame, column: str = "window_start") -> Column:
    """True for rows of the latest window present in the *source* table (not just the hits),
    so an old alert stops being current once a newer window exists."""
    latest = source.agg(F.max(column)).first()[0]
    return F.lit(False) if latest is None else (F.col(column) == F.lit(latest))


def _only(df: DataFrame, column: str, rule: AlertRule) -> DataFrame:
    return df.where(F.col(column).isin(list(rule.only))) if rule.only else df


def _table(spark: SparkSession, catalog: Catalog, name: str) -> DataFrame | None:
    return read_table(spark, catalog, name) if table_exists(spark, catalog, name) else None


def _streaks(df: DataFrame, keys: list[str], hit: Column) -> DataFrame:
    """Add ``streak``: consecutive windows (ordered by window_start) in which ``hit`` holds."""
    w = Window.partitionBy(*keys).orderBy("window_start")
    flagged = df.withColumn("_hit", hit.cast("int"))
    # a new group starts at every miss; within a group the streak is the running count of hits
    grp = flagged.withColumn("_grp", F.sum(1 - F.col("_hit")).over(w.rowsBetween(Window.unboundedPreceding, 0)))
    w2 = Window.partitionBy(*keys, "_grp").orderBy("window_start").rowsBetween(Window.unboundedPreceding, 0)
    return grp.withColumn("streak", F.sum("_hit").over(w2))


def drift(spark: SparkSession, catalog: Catalog, rule: AlertRule) -> DataFrame:
    """Univariate drift: significant and at least ``min_effect`` for N consecutive windows."""
    df = _table(spark, catalog, "mlhops.drift_metrics")
    if df is None:
        return _empty(spark)
    df = _only(df.where(F.col("status") == "ok"), "feature", rule)
    hit = F.col("drift") & (F.coalesce(F.abs(F.col("effect_size")), F.lit(0.0)) >= rule.min_effect)
    keys = ["detector", "feature", "granularity", "slice", "slice_value", "reference"]
    s = _streaks(df, keys, hit).where(F.col("streak") >= rule.consecutive_windows)
    subject = F.concat_ws(
        " ", "feature", F.concat(F.lit("["), "detector", F.lit("]")),
        F.concat_ws("=", "slice", "slice_value"), F.concat(F.lit("vs "), "reference"), "granularity",
    )
    msg = F.format_string(
        "%s drifted (%s) vs %s for %d consecutive %s window(s): effect %s=%.3f, adjusted p=%.2g",
        "feature", "detector", "reference", "streak", "granularity",
        F.coalesce("effect_size_name", F.lit("size")), F.coalesce("effect_size", F.lit(float("nan"))),
        F.coalesce("p_value_adjusted", "p_value", F.lit(float("nan"))),
    )
    return _candidates(
        s, rule, subject=subject, window_start=F.col("window_start"), window_end=F.col("window_end"),
        value=F.col("effect_size"), threshold=F.lit(rule.min_effect), message=msg,
        current=_is_latest(df),
    )


def multivariate_drift(spark: SparkSession, catalog: Catalog, rule: AlertRule) -> DataFrame:
    """A registered multivariate detector flagged a window (N consecutive windows)."""
    df = _table(spark, catalog, "mlhops.multivariate_drift")
    if df is None:
        return _empty(spark)
    df = _only(df.where(F.col("status") == "ok"), "detector", rule)
    keys = ["detector", "feature", "granularity", "slice", "slice_value", "reference"]
    s = _streaks(df, keys, F.col("drift")).where(F.col("streak") >= rule.consecutive_windows)
    subject = F.concat_ws(" ", "detector", "feature", F.concat_ws("=", "slice", "slice_value"))
    msg = F.format_string(
        "%s on feature set %s flagged drift (statistic %.4g, p=%.2g, n=%d vs %d)",
        "detector", "feature", F.coalesce("statistic", F.lit(float("nan"))),
        F.coalesce("p_value", F.lit(float("nan"))), "n_current", "n_reference",
    )
    return _candidates(
        s, rule, subject=subject, window_start=F.col("window_start"), window_end=F.col("window_end"),
        value=F.col("statistic"), threshold=F.col("threshold"), message=msg,
        current=_is_latest(df),
    )


def performance(spark: SparkSession, catalog: Catalog, rule: AlertRule) -> DataFrame:
    """A whole-population performance metric outside [min_value, max_value]."""
    df = _table(spark, catalog, "mlhops.performance_metrics")
    if df is None or rule.metric is None:
        return _empty(spark)
    df = df.where((F.col("metric") == rule.metric) & (F.col("attribute") == "all") & F.col("estimate").isNotNull())
    cond = F.lit(False)
    if rule.min_value is not None:
        cond = cond | (F.col("estimate") < rule.min_value)
    if rule.max_value is not None:
        cond = cond | (F.col("estimate") > rule.max_value)
    bound = rule.min_value if rule.min_value is not None else rule.max_value
    current = _is_latest(df)
    subject = F.concat_ws(" ", "model_name", F.concat(F.lit("v"), "model_version"), "method", "metric")
    msg = F.format_string(
        "%s %s (%s) = %.3f [%.3f, %.3f], n=%d; bound %s",
        "model_name", "metric", "method", "estimate", F.coalesce("ci_lower", F.lit(float("nan"))),
        F.coalesce("ci_upper", F.lit(float("nan"))), "n",
        F.lit(f">= {rule.min_value}" if rule.min_value is not None else f"<= {rule.max_value}"),
    )
    return _candidates(
        df.where(cond), rule, subject=subject, window_start=F.col("window_start"),
        window_end=F.col("window_end"), value=F.col("estimate"), threshold=F.lit(bound), message=msg,
        current=current,
    )


def fairness(spark: SparkSession, catalog: Catalog, rule: AlertRule) -> DataFrame:
    """A subgroup's gap to its reference group above ``min_effect`` (suppressed groups never appear)."""
    df = _table(spark, catalog, "mlhops.fairness_disparities")
    if df is None:
        return _empty(spark)
    current = _is_latest(df)
    df = _only(df, "metric", rule).where(F.abs(F.col("difference")) > rule.min_effect)
    subject = F.concat_ws(" ", "model_name", "metric", F.concat_ws("=", "attribute", "grp"))
    msg = F.format_string(
        "%s gap for %s=%s vs %s: %.3f (group %.3f, reference %.3f, n=%d)",
        "metric", "attribute", "grp", "reference_group", "difference",
        F.coalesce("group_value", F.lit(float("nan"))), F.coalesce("reference_value", F.lit(float("nan"))), "n",
    )
    return _candidates(
        df, rule, subject=subject, window_start=F.col("window_start"), window_end=F.col("window_end"),
        value=F.col("difference"), threshold=F.lit(rule.min_effect), message=msg,
        current=current,
    )


def quality(spark: SparkSession, catalog: Catalog, rule: AlertRule) -> DataFrame:
    """A data-quality check failed for a window."""
    df = _table(spark, catalog, "mlhops.quality_results")
    if df is None:
        return _empty(spark)
    current = _is_latest(df)
    df = _only(df.where(F.col("status") == "fail"), "check_id", rule)
    subject = F.concat_ws(" ", "check_id", F.concat_ws(".", "table_name", "field"))
    msg = F.format_string(
        "quality check %s (%s) failed: %d of %d rows (%.2f%%) above threshold %.2f%%",
        "check_id", "category", "rows_failing", "rows_checked", "pct_failing", "threshold_pct",
    )
    return _candidates(
        df, rule, subject=subject, window_start=F.col("window_start"), window_end=F.col("window_end"),
        value=F.col("pct_failing"), threshold=F.col("threshold_pct"), message=msg,
        current=current,
    )


def quarantine(spark: SparkSession, catalog: Catalog, rule: AlertRule) -> DataFrame:
    """An ETL run quarantined more than ``max_fraction`` of a source table's rows."""
    runs = _table(spark, catalog, "mlhops.runs")
    if runs is None or rule.max_fraction is None:
        return _empty(spark)
    etl = runs.where((F.col("stage") == "etl") & F.col("status").isin("ok", "alerts"))
    # current: the latest ETL run of each source
    latest_per_source = etl.groupBy(F.get_json_object("details_json", "$.source").alias("source")).agg(
        F.max("ended_at").alias("latest_end")
    )
    kv = etl.select(
        "run_id", "fingerprint", "window_start", "window_end", "ended_at",
        F.get_json_object("details_json", "$.source").alias("source"),
        F.explode("metrics").alias("k", "v"),
    )
    read = kv.where(F.col("k").startswith("rows_read.")).withColumn("table", F.expr("substr(k, 11)"))
    quar = kv.where(F.col("k").startswith("rows_quarantined.")).withColumn("table", F.expr("substr(k, 18)"))
    joined = read.alias("r").join(
        quar.alias("q"), on=[F.col("r.run_id") == F.col("q.run_id"), F.col("r.table") == F.col("q.table")]
    ).select(
        "r.run_id", "r.fingerprint", "r.window_start", "r.window_end", "r.ended_at", "r.source", "r.table",
        F.col("r.v").alias("n_read"), F.col("q.v").alias("n_quarantined"),
    )
    joined = _only(joined, "table", rule).where(F.col("n_read") > 0)
    joined = joined.withColumn("fraction", F.col("n_quarantined") / F.col("n_read"))
    hits = joined.where(F.col("fraction") > rule.max_fraction).join(latest_per_source, "source", "left")
    # one alert per source table and input (the ETL fingerprint is the input checksum)
    subject = F.concat_ws(" ", F.lit("etl"), "source", "table", F.concat(F.lit("input "), F.substring("fingerprint", 1, 12)))
    msg = F.format_string(
        "%s.%s: %d of %d rows quarantined (%.2f%%), bound %.2f%%",
        "source", "table", F.col("n_quarantined").cast("long"), F.col("n_read").cast("long"),
        F.col("fraction") * 100, F.lit(rule.max_fraction * 100),
    )
    return _candidates(
        hits, rule, subject=subject, window_start=F.col("window_start"), window_end=F.col("window_end"),
        value=F.col("fraction"), threshold=F.lit(rule.max_fraction), message=msg,
        current=F.col("ended_at") == F.col("latest_end"),
    )


EVALUATORS: dict[str, Evaluator] = {
    "quality": quality,
    "quarantine": quarantine,
    "drift": drift,
    "multivariate_drift": multivariate_drift,
    "performance": performance,
    "calibration": performance,
    "fairness": fairness,
}
