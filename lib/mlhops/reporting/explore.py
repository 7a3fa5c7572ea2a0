"""Read-only helpers behind the notebooks: alert context, window comparison, model comparison.

Everything returned is an aggregate (pandas, small): profile metrics, drift results, model
metrics. Nothing here reads raw patient rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mlhops.errors import MLHOpsError
from mlhops.io import Catalog, read_table, table_exists
from mlhops.io.tables.models import PERFORMANCE_METRICS
from mlhops.io.tables.monitoring import DRIFT_METRICS, MULTIVARIATE_DRIFT, PROFILE_METRICS
from mlhops.io.tables.operations import ALERTS


def _need(spark: SparkSession, cat: Catalog, name: str) -> None:
    if not table_exists(spark, cat, name):
        raise MLHOpsError(f"{name} does not exist yet: run the stage that writes it (see README)")


@dataclass(frozen=True)
class AlertContext:
    """A drift alert with the history of its feature."""

    alert: dict[str, object]
    feature: str | None
    history: pd.DataFrame  # drift results for the alert's feature over windows
    profile: pd.DataFrame  # profile metrics of the feature over the same windows


def drift_alert_context(spark: SparkSession, cat: Catalog, alert_id: str | None = None) -> AlertContext | None:
    """The given drift alert (default: the most recent one) with its feature's history.

    Returns None when no drift alert has been raised (and no ``alert_id`` was asked for).

    Raises:
        MLHOpsError: ``alert_id`` names no drift alert.
    """
    _need(spark, cat, ALERTS)
    alerts = read_table(spark, cat, ALERTS).where(F.col("kind").isin("drift", "multivariate_drift"))
    if alert_id:
        alerts = alerts.where(F.col("alert_id") == alert_id)
    row = alerts.orderBy(F.col("window_start").desc(), F.col("raised_at").desc()).first()
    if row is None:
        if alert_id:
            raise MLHOpsError(f"no drift alert with id {alert_id}")
        return None
    alert = row.asDict()
    feature = str(alert["subject"]).split(" ", 1)[0]
    table = DRIFT_METRICS if alert["kind"] == "drift" else MULTIVARIATE_DRIFT
    history = pd.DataFrame()
    if table_exists(spark, cat, table):
        history = (
            read_table(spark, cat, table).where(F.col("feature") == feature)
            .select("granularity", "window_start", "slice", "slice_value", "reference", "detector", "statistic",
                    "p_value_adjusted", "effect_size", "drift", "n_reference", "n_current")
            .orderBy("granularity", "window_start", "detector").toPandas()
        )
    profile = pd.DataFrame()
    if table_exists(spark, cat, PROFILE_METRICS):
        profile = (
            read_table(spark, cat, PROFILE_METRICS)
            .where((F.col("feature") == feature) & (F.col("slice") == "all"))
            .select("granularity", "window_start", "n_rows", "null_fraction", "mean", "stddev", "min", "max",
                    "distinct_approx")
            .orderBy("granularity", "window_start").toPandas()
        )
    return AlertContext(alert=alert, feature=feature, history=history, profile=profile)


def compare_windows(
    spark: SparkSession,
    cat: Catalog,
    granularity: str,
    window_a: dt.date,
    window_b: dt.date,
    slice_name: str = "all",
    slice_value: str = "all",
) -> pd.DataFrame:
    """Side-by-side profile of every feature in two windows, with differences."""
    _need(spark, cat, PROFILE_METRICS)
    prof = read_table(spark, cat, PROFILE_METRICS).where(
        (F.col("granularity") == granularity) & (F.col("slice") == slice_name) & (F.col("slice_value") == slice_value)
        & F.col("window_start").isin(window_a, window_b)
    )
    median = F.expr("filter(quantiles, x -> x.q = 0.5)[0].value")
    pdf = prof.select("feature", "kind", "window_start", "n", "null_fraction", "mean", "stddev",
                      median.alias("median")).toPandas()
    if pdf.empty:
        raise MLHOpsError(f"no profile metrics for {granularity} windows {window_a} / {window_b}")
    a = pdf[pdf.window_start == window_a].set_index("feature")
    b = pdf[pdf.window_start == window_b].set_index("feature")
    out = a[["kind"]].join(a[["n", "null_fraction", "mean", "median"]].add_suffix("_a"), how="outer")
    out = out.join(b[["n", "null_fraction", "mean", "median"]].add_suffix("_b"), how="outer")
    out["mean_diff"] = out["mean_b"] - out["mean_a"]
    out["null_fraction_diff"] = out["null_fraction_b"] - out["null_fraction_a"]
    sd = a["stddev"].reindex(out.index)
    out["standardized_mean_diff"] = out["mean_diff"] / sd.where(sd > 0)
    return out.reset_index().sort_values("standardized_mean_diff", key=lambda s: s.abs(), ascending=False)


def model_comparison(spark: SparkSession, cat: Catalog, model_name: str | None = None) -> pd.DataFrame:
    """Champion vs challenger: latest realized metrics per version, side by side."""
    if not table_exists(spark, cat, PERFORMANCE_METRICS):
        return pd.DataFrame()  # nothing scored and evaluated yet
    perf = read_table(spark, cat, PERFORMANCE_METRICS).where(F.col("attribute") == "all")
    if model_name:
        perf = perf.where(F.col("model_name") == model_name)
    pdf = perf.select("model_name", "model_version", "method", "window_start", "metric", "estimate",
                      "ci_lower", "ci_upper", "n").toPandas()
    if pdf.empty:
        return pdf
    latest = pdf.sort_values("window_start").groupby(["model_version", "method", "metric"]).tail(1)
    return latest.pivot_table(index=["method", "metric"], columns="model_version", values="estimate").reset_index()
