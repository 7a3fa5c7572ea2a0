"""Rule kinds on the evaluate stage's lifecycle tables: concept-drift alarms and label shift
(``mlhops.model_drift``), trigger decisions (``mlhops.model_triggers``) and label requests
(``mlhops.label_requests``). Aggregates only: detector statistics, priors, reasons, counts."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.alerts.candidates import candidates, empty, is_latest, only, optional_table, or_nan
from mlhops.alerts.rules import AlertRule
from mlhops.io import Catalog
from mlhops.io.tables.models import LABEL_REQUESTS, MODEL_DRIFT, MODEL_TRIGGERS

# Rows of mlhops.model_drift that are not error-stream detectors (models.evaluation writes them).
LABEL_SHIFT_DETECTOR = "bbse_prevalence"
NOT_CONCEPT_DRIFT = (LABEL_SHIFT_DETECTOR, "score_psi")
# Label requests alert while in these statuses unless the rule lists others in ``only``.
DEFAULT_REQUEST_STATUSES = ("open",)


def _model(version_col: str = "model_version") -> Column:
    return F.concat_ws(" ", "model_name", F.concat(F.lit("v"), version_col))


def concept_drift(spark: SparkSession, catalog: Catalog, rule: AlertRule) -> DataFrame:
    """An error-stream detector (CUSUM, Page-Hinkley, DDM, ADWIN) alarmed in a window."""
    df = optional_table(spark, catalog, MODEL_DRIFT)
    if df is None:
        return empty(spark)
    current = is_latest(df)
    hits = only(df.where(~F.col("detector").isin(*NOT_CONCEPT_DRIFT) & F.col("drift")), "detector", rule)
    msg = F.format_string(
        "%s v%s: %s alarmed on the labelled error stream (statistic %.3g, threshold %.3g, %d labelled case(s))",
        "model_name", "model_version", "detector", or_nan("statistic"), or_nan("threshold"), "n",
    )
    return candidates(
        hits, rule, subject=F.concat_ws(" ", _model(), "detector"), window_start=F.col("window_start"),
        window_end=F.col("window_end"), value=F.col("statistic"), threshold=F.col("threshold"), message=msg,
        current=current,
    )


def label_shift(spark: SparkSession, catalog: Catalog, rule: AlertRule) -> DataFrame:
    """BBSE: the window's estimated positive prior differs from the reference (CI excludes it, and
    by at least ``min_effect``)."""
    df = optional_table(spark, catalog, MODEL_DRIFT)
    if df is None:
        return empty(spark)
    df = df.where(F.col("detector") == LABEL_SHIFT_DETECTOR)
    current = is_latest(df)
    gap = F.abs(F.col("statistic") - F.col("reference"))
    hits = df.where(F.col("drift") & (gap >= rule.min_effect))
    msg = F.format_string(
        "%s v%s: estimated positive prior %.3f [%.3f, %.3f] vs reference %.3f (BBSE, %d scored case(s))",
        "model_name", "model_version", or_nan("statistic"), or_nan("ci_lower"), or_nan("ci_upper"),
        or_nan("reference"), "n",
    )
    return candidates(
        hits, rule, subject=F.concat_ws(" ", _model(), F.lit("label shift")), window_start=F.col("window_start"),
        window_end=F.col("window_end"), value=F.col("statistic") - F.col("reference"),
        threshold=F.lit(rule.min_effect), message=msg, current=current,
    )


def model_trigger(spark: SparkSession, catalog: Catalog, rule: AlertRule) -> DataFrame:
    """A retrain / recalibrate trigger fired (kinds in ``only``; all when empty)."""
    df = optional_table(spark, catalog, MODEL_TRIGGERS)
    if df is None:
        return empty(spark)
    current = is_latest(df)
    hits = only(df, "kind", rule)
    msg = F.format_string("%s v%s: %s trigger -> %s: %s", "model_name", "model_version", "kind", "action", "reason")
    effect = F.col("effect_size") if "effect_size" in df.columns else F.lit(None).cast("double")
    return candidates(
        hits, rule, subject=F.concat_ws(" ", _model(), "kind", "action"), window_start=F.col("window_start"),
        window_end=F.col("window_end"), value=effect, threshold=F.lit(None), message=msg, current=current,
    )


def label_request(spark: SparkSession, catalog: Catalog, rule: AlertRule) -> DataFrame:
    """A label request in one of the rule's statuses (``only``; default: open)."""
    df = optional_table(spark, catalog, LABEL_REQUESTS)
    if df is None:
        return empty(spark)
    current = is_latest(df)
    statuses = list(rule.only or DEFAULT_REQUEST_STATUSES)
    hits = df.where(F.col("status").isin(statuses))
    msg = F.format_string(
        "%s v%s: %d case(s) of window %s need expert labels (%s, priority %d, %s since %s): %s",
        "model_name", "model_version", "n_requested", F.col("window_start").cast("string"), "policy", "priority",
        "status", F.col("planned_as_of").cast("string"), "reason",
    )
    return candidates(
        hits, rule, subject=F.concat_ws(" ", _model(), "policy", F.lit("labels"), "status"),
        window_start=F.col("window_start"), window_end=F.col("window_end"), value=F.col("n_requested"),
        threshold=F.col("priority"), message=msg, current=current,
    )


MODEL_EVALUATORS: dict[str, Callable[[SparkSession, Catalog, AlertRule], DataFrame]] = {
    "concept_drift": concept_drift,
    "label_shift": label_shift,
    "model_trigger": model_trigger,
    "label_request": label_request,
}
