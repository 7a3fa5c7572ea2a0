"""One evaluator per rule kind: read a platform table, return alert candidates (no patient data).

Every evaluator returns a DataFrame with :data:`~mlhops.alerts.store.CANDIDATE_SCHEMA`; rules
whose source table does not exist yet (stage not run) produce no candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.frames import union_all
from mlhops.alerts.candidates import candidates, empty, is_latest, only, optional_table, or_nan, streaks
from mlhops.alerts.drift_reasons import reasons_text, with_reasons
from mlhops.alerts.lifecycle_rules import MODEL_EVALUATORS
from mlhops.alerts.rules import AlertRule
from mlhops.io import Catalog
from mlhops.io.tables.core import RUNS
from mlhops.io.tables.models import FAIRNESS_DISPARITIES, PERFORMANCE_METRICS
from mlhops.io.tables.monitoring import DRIFT_METRICS, MULTIVARIATE_DRIFT
from mlhops.io.tables.operations import QUALITY_RESULTS

Evaluator = Callable[[SparkSession, Catalog, AlertRule], DataFrame]

# One series of drift results: a streak counts consecutive windows of the same series.
DRIFT_SERIES = ["detector", "feature", "granularity", "slice", "slice_value", "reference"]


def _sustained(df: DataFrame, hit: Column, rule: AlertRule) -> DataFrame:
    """Rows where ``hit`` held for at least ``rule.consecutive_windows`` windows of its series."""
    return streaks(df, DRIFT_SERIES, hit).where(F.col("streak") >= rule.consecutive_windows)


def drift(spark: SparkSession, catalog: Catalog, rule: AlertRule) -> DataFrame:
    """Univariate drift: significant and at least ``min_effect`` for N consecutive windows."""
    df = optional_table(spark, catalog, DRIFT_METRICS)
    if df is None:
        return empty(spark)
    df = only(df.where(F.col("status") == "ok"), "feature", rule)
    hit = F.col("drift") & (F.coalesce(F.abs(F.col("effect_size")), F.lit(0.0)) >= rule.min_effect)
    s = _sustained(df, hit, rule)
    subject = F.concat_ws(
        " ", "feature", F.concat(F.lit("["), "detector", F.lit("]")),
        F.concat_ws("=", "slice", "slice_value"), F.concat(F.lit("vs "), "reference"), "granularity",
    )
    msg = F.format_string(
        "%s drifted (%s) vs %s for %d consecutive %s window(s): effect %s=%.3f, adjusted p=%.2g",
        "feature", "detector", "reference", "streak", "granularity",
        F.coalesce("effect_size_name", F.lit("size")), or_nan("effect_size"),
        F.coalesce("p_value_adjusted", "p_value", F.lit(float("nan"))),
    )
    return candidates(
        s, rule, subject=subject, window_start=F.col("window_start"), window_end=F.col("window_end"),
        value=F.col("effect_size"), threshold=F.lit(rule.min_effect), message=msg,
        current=is_latest(df),
    )


def multivariate_drift(spark: SparkSession, catalog: Catalog, rule: AlertRule) -> DataFrame:
    """A registered multivariate detector flagged a window (N consecutive windows)."""
    df = optional_table(spark, catalog, MULTIVARIATE_DRIFT)
    if df is None:
        return empty(spark)
    df = only(df.where(F.col("status") == "ok"), "detector", rule)
    s = with_reasons(spark, catalog, _sustained(df, F.col("drift"), rule))
    subject = F.concat_ws(" ", "detector", "feature", F.concat_ws("=", "slice", "slice_value"))
    msg = F.format_string(
        "%s on feature set %s flagged drift (statistic %.4g, p=%.2g, n=%d vs %d)",
        "detector", "feature", or_nan("statistic"), or_nan("p_value"), "n_current", "n_reference",
    )
    # where the shift sits and the features the detector relied on (mlhops.drift_explanations)
    reasons = reasons_text()
    msg = F.when(F.length(reasons) > 0, F.concat(msg, F.lit("; "), reasons)).otherwise(msg)
    return candidates(
        s, rule, subject=subject, window_start=F.col("window_start"), window_end=F.col("window_end"),
        value=F.col("statistic"), threshold=F.col("threshold"), message=msg,
        current=is_latest(df),
    )


def performance(spark: SparkSession, catalog: Catalog, rule: AlertRule) -> DataFrame:
    """A whole-population performance metric outside [min_value, max_value]."""
    df = optional_table(spark, catalog, PERFORMANCE_METRICS)
    if df is None or rule.metric is None:
        return empty(spark)
    df = df.where((F.col("metric") == rule.metric) & (F.col("attribute") == "all") & F.col("estimate").isNotNull())
    cond = F.lit(False)
    if rule.min_value is not None:
        cond = cond | (F.col("estimate") < rule.min_value)
    if rule.max_value is not None:
        cond = cond | (F.col("estimate") > rule.max_value)
    bound = rule.min_value if rule.min_value is not None else rule.max_value
    current = is_latest(df)
    subject = F.concat_ws(" ", "model_name", F.concat(F.lit("v"), "model_version"), "method", "metric")
    msg = F.format_string(
        "%s %s (%s) = %.3f [%.3f, %.3f], n=%d; bound %s",
        "model_name", "metric", "method", "estimate", or_nan("ci_lower"), or_nan("ci_upper"), "n",
        F.lit(f">= {rule.min_value}" if rule.min_value is not None else f"<= {rule.max_value}"),
    )
    return candidates(
        df.where(cond), rule, subject=subject, window_start=F.col("window_start"),
        window_end=F.col("window_end"), value=F.col("estimate"), threshold=F.lit(bound), message=msg,
        current=current,
    )


def fairness(spark: SparkSession, catalog: Catalog, rule: AlertRule) -> DataFrame:
    """A subgroup's gap to its reference group above ``min_effect`` (suppressed groups never appear)."""
    df = optional_table(spark, catalog, FAIRNESS_DISPARITIES)
    if df is None:
        return empty(spark)
    current = is_latest(df)
    df = only(df, "metric", rule).where(F.abs(F.col("difference")) > rule.min_effect)
    subject = F.concat_ws(" ", "model_name", "metric", F.concat_ws("=", "attribute", "grp"))
    msg = F.format_string(
        "%s gap for %s=%s vs %s: %.3f (group %.3f, reference %.3f, n=%d)",
        "metric", "attribute", "grp", "reference_group", "difference",
        or_nan("group_value"), or_nan("reference_value"), "n",
    )
    return candidates(
        df, rule, subject=subject, window_start=F.col("window_start"), window_end=F.col("window_end"),
        value=F.col("difference"), threshold=F.lit(rule.min_effect), message=msg,
        current=current,
    )


def quality(spark: SparkSession, catalog: Catalog, rule: AlertRule) -> DataFrame:
    """A data-quality check failed for a window."""
    df = optional_table(spark, catalog, QUALITY_RESULTS)
    if df is None:
        return empty(spark)
    current = is_latest(df)
    df = only(df.where(F.col("status") == "fail"), "check_id", rule)
    subject = F.concat_ws(" ", "check_id", F.concat_ws(".", "table_name", "field"))
    msg = F.format_string(
        "quality check %s (%s) failed: %d of %d rows (%.2f%%) above threshold %.2f%%",
        "check_id", "category", "rows_failing", "rows_checked", "pct_failing", "threshold_pct",
    )
    return candidates(
        df, rule, subject=subject, window_start=F.col("window_start"), window_end=F.col("window_end"),
        value=F.col("pct_failing"), threshold=F.col("threshold_pct"), message=msg,
        current=current,
    )


def etl_table_counts(etl_runs: DataFrame) -> DataFrame:
    """Per ETL run and source table: rows read and quarantined (from the run's
    ``rows_read.<table>`` / ``rows_quarantined.<table>`` metrics), with the run's source."""
    kv = etl_runs.select(
        "run_id", "fingerprint", "window_start", "window_end", "ended_at",
        F.get_json_object("details_json", "$.source").alias("source"),
        F.explode("metrics").alias("k", "v"),
    )
    read = kv.where(F.col("k").startswith("rows_read.")).withColumn("table", F.expr("substr(k, 11)"))
    quar = kv.where(F.col("k").startswith("rows_quarantined.")).withColumn("table", F.expr("substr(k, 18)"))
    return read.alias("r").join(
        quar.alias("q"), on=[F.col("r.run_id") == F.col("q.run_id"), F.col("r.table") == F.col("q.table")]
    ).select(
        "r.run_id", "r.fingerprint", "r.window_start", "r.window_end", "r.ended_at", "r.source", "r.table",
        F.col("r.v").alias("n_read"), F.col("q.v").alias("n_quarantined"),
    )


def quarantine(spark: SparkSession, catalog: Catalog, rule: AlertRule) -> DataFrame:
    """An ETL run quarantined more than ``max_fraction`` of a source table's rows."""
    runs = optional_table(spark, catalog, RUNS)
    if runs is None or rule.max_fraction is None:
        return empty(spark)
    etl = runs.where((F.col("stage") == "etl") & F.col("status").isin("ok", "alerts"))
    # current: the latest ETL run of each source
    latest_per_source = etl.groupBy(F.get_json_object("details_json", "$.source").alias("source")).agg(
        F.max("ended_at").alias("latest_end")
    )
    counts = only(etl_table_counts(etl), "table", rule).where(F.col("n_read") > 0)
    counts = counts.withColumn("fraction", F.col("n_quarantined") / F.col("n_read"))
    hits = counts.where(F.col("fraction") > rule.max_fraction).join(latest_per_source, "source", "left")
    # one alert per source table and input (the ETL fingerprint is the input checksum)
    subject = F.concat_ws(" ", F.lit("etl"), "source", "table", F.concat(F.lit("input "), F.substring("fingerprint", 1, 12)))
    msg = F.format_string(
        "%s.%s: %d of %d rows quarantined (%.2f%%), bound %.2f%%",
        "source", "table", F.col("n_quarantined").cast("long"), F.col("n_read").cast("long"),
        F.col("fraction") * 100, F.lit(rule.max_fraction * 100),
    )
    return candidates(
        hits, rule, subject=subject, window_start=F.col("window_start"), window_end=F.col("window_end"),
        value=F.col("fraction"), threshold=F.lit(rule.max_fraction), message=msg,
        current=F.col("ended_at") == F.col("latest_end"),
    )


EVALUATORS: dict[str, Evaluator] = {
    **MODEL_EVALUATORS,
    "quality": quality,
    "quarantine": quarantine,
    "drift": drift,
    "multivariate_drift": multivariate_drift,
    "performance": performance,
    "calibration": performance,
    "fairness": fairness,
}


def evaluate_rules(spark: SparkSession, catalog: Catalog, rules: Sequence[AlertRule]) -> DataFrame:
    """Alert candidates of every rule (with ``is_current``)."""
    return union_all([EVALUATORS[r.kind](spark, catalog, r) for r in rules])
