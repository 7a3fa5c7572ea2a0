"""What each alert kind's runbook asks the on-call person to look at, as small frames.

One function per alert kind (``PANELS``) turns an alert row and its parsed subject into
:class:`Panel` values read from the platform tables that feed the rule; a kind without its own
function gets the generic panels (the alert's own history and the other alerts of its window).
Everything is an aggregate: no patient rows, no identifiers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.io import Catalog, read_table, table_exists
from mlhops.io.tables.core import RUNS
from mlhops.io.tables.etl import QUARANTINE
from mlhops.io.tables.models import (
    FAIRNESS_DISPARITIES, LABEL_REQUESTS, MODEL_DRIFT, MODEL_TRIGGERS, PERFORMANCE_METRICS,
)
from mlhops.io.tables.monitoring import DRIFT_METRICS, MULTIVARIATE_DRIFT
from mlhops.io.tables.operations import ALERTS, QUALITY_RESULTS
from mlhops.reporting import distributions


@dataclass(frozen=True)
class Panel:
    """One thing to look at: a titled frame, and a note on how to read it or why it is empty."""

    title: str
    frame: pd.DataFrame
    note: str = ""
    key: str = ""  # stable name for code and tests (titles carry values)
    extra: Mapping[str, Any] = field(default_factory=dict)


# Subject formats of the shipped evaluators (mlhops.alerts.evaluate), one regex per kind.
SUBJECTS: dict[str, re.Pattern[str]] = {
    "drift": re.compile(r"^(?P<feature>.+?) \[(?P<detector>[^\]]+)\] (?P<slice>[^=]+)=(?P<slice_value>.*)"
                        r" vs (?P<reference>\S+) (?P<granularity>\S+)$"),
    "multivariate_drift": re.compile(r"^(?P<detector>\S+) (?P<feature>\S+) (?P<slice>[^=]+)=(?P<slice_value>.*)$"),
    "performance": re.compile(r"^(?P<model_name>\S+) v(?P<model_version>\S+) (?P<method>\S+) (?P<metric>\S+)$"),
    "calibration": re.compile(r"^(?P<model_name>\S+) v(?P<model_version>\S+) (?P<method>\S+) (?P<metric>\S+)$"),
    "fairness": re.compile(r"^(?P<model_name>\S+) (?P<metric>\S+) (?P<attribute>[^=]+)=(?P<grp>.*)$"),
    "quality": re.compile(r"^(?P<check_id>\S+) (?P<target>\S+)$"),
    "quarantine": re.compile(r"^etl (?P<source>\S+) (?P<table>\S+) input (?P<fingerprint>\S+)$"),
}


def parse_subject(kind: str, subject: str) -> dict[str, str]:
    """The parts of an alert subject (empty for a kind or format this module does not know)."""
    pattern = SUBJECTS.get(kind)
    m = pattern.match(subject) if pattern else None
    return m.groupdict() if m else {}


def _opt(spark: SparkSession, cat: Catalog, name: str) -> DataFrame | None:
    return read_table(spark, cat, name) if table_exists(spark, cat, name) else None


def _missing(key: str, title: str, name: str) -> Panel:
    return Panel(title, pd.DataFrame(), f"{name} does not exist yet: the stage that writes it has not run.", key)


def _day(v: object) -> pd.Timestamp:
    return pd.Timestamp(v).normalize()


def _same_day(col: str, v: object) -> Any:
    return F.to_date(F.col(col)) == F.lit(_day(v).date())


# --- generic -----------------------------------------------------------------------------------

def alert_history(spark: SparkSession, cat: Catalog, alert: Mapping[str, Any]) -> Panel:
    """Every window in which the same rule fired on the same subject (value vs threshold)."""
    df = read_table(spark, cat, ALERTS).where(
        (F.col("rule_id") == alert["rule_id"]) & (F.col("subject") == alert["subject"]))
    pdf = df.select("window_start", "window_end", "value", "threshold", "severity", "first_run_id", "raised_at") \
        .orderBy("window_start").toPandas()
    return Panel("History of this alert (same rule and subject)", pdf,
                 "One row per window in which the rule fired; a single window is a blip, a run of windows a trend.",
                 "alert_history")


def same_window_alerts(spark: SparkSession, cat: Catalog, alert: Mapping[str, Any]) -> Panel:
    """The other alerts of the alert's window: a shared cause often explains several."""
    df = read_table(spark, cat, ALERTS).where(F.col("alert_id") != alert["alert_id"])
    if alert.get("window_start") is not None:
        df = df.where(_same_day("window_start", alert["window_start"]))
    pdf = df.select("kind", "rule_id", "severity", "subject", "value", "threshold").orderBy("kind", "subject").toPandas()
    return Panel("Other alerts of the same window", pdf,
                 "" if len(pdf) else "No other alert in this window.", "same_window")


# --- drift ------------------------------------------------------------------------------------

def univariate_panels(spark: SparkSession, cat: Catalog, alert: Mapping[str, Any], s: Mapping[str, str]) -> list[Panel]:
    """Univariate drift: the feature's drift over windows, its profile, reference vs current."""
    feature, gran = s["feature"], s["granularity"]
    d = _opt(spark, cat, DRIFT_METRICS)
    if d is None:
        return [_missing("feature_drift", "Drift of the feature", DRIFT_METRICS)]
    hist = d.where((F.col("feature") == feature) & (F.col("granularity") == gran)
                   & (F.col("slice") == s["slice"]) & (F.col("slice_value") == s["slice_value"])
                   & (F.col("reference") == s["reference"])) \
        .select("window_start", "detector", "status", "statistic", "p_value_adjusted", "effect_size",
                "effect_size_name", "drift", "n_reference", "n_current").orderBy("window_start", "detector").toPandas()
    panels = [Panel(f"Drift of {feature} over {gran} windows ({s['slice']}={s['slice_value']}, vs {s['reference']})",
                    hist, "status insufficient_data: too few rows to test (not the same as no drift).",
                    "feature_drift")]
    prof = distributions.profiles(spark, cat, [feature], slice_name=s["slice"], slice_value=s["slice_value"])
    per_window = prof[prof["granularity"] == gran].sort_values("window_start")
    panels.append(Panel(f"Profile of {feature} per {gran} window", per_window[
        ["window_start", "n_rows", "n", "null_fraction", "mean", "stddev"]].reset_index(drop=True),
        "A jump in null_fraction points to a feed problem; a stable null fraction with a shifted "
        "distribution to a unit change or a real population change.", "feature_profile"))
    ref = distributions.reference_row(prof, feature, s["reference"], gran, alert["window_start"])
    cur = distributions.window_row(prof, feature, gran, alert["window_start"])
    cmp = distributions.compare(ref, cur) if ref and cur else pd.DataFrame(columns=distributions.COLUMNS)
    why = "" if len(cmp) else "No stored histogram or categories for the reference or the alert window."
    panels.append(Panel(f"{feature}: reference ({s['reference']}) vs alert window, from the stored histograms",
                        cmp, why or "Shares per bin (numeric: the baseline's fixed bins; categorical: top categories).",
                        "distribution", {"kind": (cur or {}).get("kind")}))
    return panels


# The per-feature tests whose effect sizes share one scale (KS D, Cramer's V: both in [0, 1]).
RANKING_TESTS = ("ks", "chi2")


def ranked_screens(spark: SparkSession, cat: Catalog, granularity: str, window_start: object,
                   slice_name: str, slice_value: str) -> pd.DataFrame:
    """Univariate screens vs the baseline of one window and slice, one row per feature, largest
    effect first: the feature's KS or chi-squared test (effect KS D / Cramer's V) and its PSI."""
    d = _opt(spark, cat, DRIFT_METRICS)
    if d is None:
        return pd.DataFrame()
    rows = d.where((F.col("granularity") == granularity) & _same_day("window_start", window_start)
                   & (F.col("slice") == slice_name) & (F.col("slice_value") == slice_value)
                   & (F.col("reference") == "baseline")) \
        .select("feature", "detector", "status", "statistic", "p_value_adjusted", "effect_size", "effect_size_name",
                "drift", "n_current").toPandas()
    if rows.empty:
        return rows
    tests = rows[rows["detector"].isin(RANKING_TESTS)].drop(columns="statistic")
    psi = rows[rows["detector"] == "psi"].set_index("feature")["statistic"].rename("psi")
    out = tests.join(psi, on="feature")
    return out.sort_values("effect_size", ascending=False, na_position="last", key=lambda s: s.abs()) \
        .reset_index(drop=True)[["feature", "detector", "status", "effect_size", "effect_size_name",
                                 "p_value_adjusted", "drift", "psi", "n_current"]]


def multivariate_panels(spark: SparkSession, cat: Catalog, alert: Mapping[str, Any],
                        s: Mapping[str, str]) -> list[Panel]:
    """Multivariate drift: the detector over windows per slice, and the ranked univariate screens."""
    mv = _opt(spark, cat, MULTIVARIATE_DRIFT)
    if mv is None:
        return [_missing("detector_windows", "Detector over windows", MULTIVARIATE_DRIFT)]
    det = mv.where((F.col("detector") == s["detector"]) & (F.col("feature") == s["feature"])) \
        .select("window_start", "granularity", "slice", "slice_value", "status", "statistic", "p_value", "threshold",
                "drift", "n_reference", "n_current", "detector_version").orderBy("slice", "slice_value", "window_start") \
        .toPandas()
    panels = [Panel(f"{s['detector']} on {s['feature']}: statistic and p-value per window and slice", det,
                    "Two or more consecutive flagged windows make the alert; insufficient_data windows were not tested.",
                    "detector_windows")]
    mine = det[(det["slice"] == s["slice"]) & (det["slice_value"] == s["slice_value"])]
    gran = str(mine["granularity"].iloc[0]) if len(mine) else "week"
    screens = ranked_screens(spark, cat, gran, alert["window_start"], s["slice"], s["slice_value"])
    panels.append(Panel(f"Univariate screens of the same {gran} window ({s['slice']}={s['slice_value']}), "
                        "largest effect first", screens,
                        "" if len(screens) else "No univariate result for this window and slice (stats not run "
                        "for it, or a granularity the stats stage does not compute).", "ranked_features"))
    return panels


# --- quality and quarantine ---------------------------------------------------------------------

def quality_panels(spark: SparkSession, cat: Catalog, alert: Mapping[str, Any], s: Mapping[str, str]) -> list[Panel]:
    """Quality: the check over windows (a jump is a feed problem), other failing checks of the window."""
    q = _opt(spark, cat, QUALITY_RESULTS)
    if q is None:
        return [_missing("check_history", "The check over windows", QUALITY_RESULTS)]
    hist = q.where(F.col("check_id") == s["check_id"]).select(
        "window_start", "granularity", "category", "rows_checked", "rows_failing", "pct_failing", "threshold_pct",
        "status").orderBy("window_start").toPandas()
    same = q.where((F.col("status") == "fail") & (F.col("check_id") != s["check_id"])
                   & _same_day("window_start", alert["window_start"])) \
        .select("check_id", "category", "table_name", "field", "pct_failing", "threshold_pct").toPandas()
    return [Panel(f"Check {s['check_id']} over windows", hist,
                  "A check that jumps from 0% to many % in one window is a feed problem, not a clinical change.",
                  "check_history"),
            Panel("Other failing checks of the same window", same,
                  "" if len(same) else "No other check failed in this window.", "other_checks")]


def quarantine_panels(spark: SparkSession, cat: Catalog, alert: Mapping[str, Any],
                      s: Mapping[str, str]) -> list[Panel]:
    """Quarantine: reasons (source table, field, reason, count) of the ETL run(s) of the input."""
    runs = _opt(spark, cat, RUNS)
    if runs is None:
        return [_missing("quarantine_reasons", "Quarantine reasons", RUNS)]
    ids = [r[0] for r in runs.where((F.col("stage") == "etl") & F.col("fingerprint").startswith(s["fingerprint"]))
           .select("run_id").distinct().collect()]
    q = _opt(spark, cat, QUARANTINE)
    if q is None:
        return [_missing("quarantine_reasons", "Quarantine reasons", QUARANTINE)]
    reasons = q.where(F.col("run_id").isin(ids) & (F.col("source_table") == s["table"])) \
        .groupBy("source_table", "field", "reason").count().orderBy(F.col("count").desc()).toPandas()
    return [Panel(f"Why rows of {s['table']} were quarantined (ETL run(s) {', '.join(sorted(ids)) or 'none'})",
                  reasons, "One dominant reason usually means an upstream format change. Line numbers are in "
                  "mlhops/quarantine; open the source file in the secured landing zone, never copy rows.",
                  "quarantine_reasons")]


# --- model ------------------------------------------------------------------------------------

def performance_panels(spark: SparkSession, cat: Catalog, alert: Mapping[str, Any],
                       s: Mapping[str, str]) -> list[Panel]:
    """Performance or calibration: the metric over windows (realized and CBPE) with intervals,
    whether the whole interval is past the bound, subgroups of the window, label shift."""
    p = _opt(spark, cat, PERFORMANCE_METRICS)
    if p is None:
        return [_missing("metric_history", "The metric over windows", PERFORMANCE_METRICS)]
    mine = p.where((F.col("model_name") == s["model_name"]) & (F.col("model_version") == s["model_version"]))
    hist = mine.where((F.col("metric") == s["metric"]) & (F.col("attribute") == "all")) \
        .select("window_start", "method", "estimate", "ci_lower", "ci_upper", "n", "labels_as_of") \
        .orderBy("window_start", "method").toPandas()
    bound = alert.get("threshold")
    if bound is not None and len(hist):
        lower_is_bad = alert.get("value") is not None and float(alert["value"]) < float(bound)
        hist["interval_past_bound"] = (hist["ci_upper"] < bound) if lower_is_bad else (hist["ci_lower"] > bound)
    sub = mine.where((F.col("metric") == s["metric"]) & (F.col("attribute") != "all")
                     & _same_day("window_start", alert["window_start"])) \
        .select("method", "attribute", "grp", "estimate", "ci_lower", "ci_upper", "n") \
        .orderBy("method", "attribute", "grp").toPandas()
    panels = [Panel(f"{s['metric']} of {s['model_name']} v{s['model_version']} per window (realized and CBPE)", hist,
                    "Check whether the whole interval is past the bound, over 3+ windows.", "metric_history"),
              Panel(f"{s['metric']} per subgroup in the alert window", sub,
                    "" if len(sub) else "No reportable subgroup (groups under the minimum size are suppressed).",
                    "subgroups")]
    md = _opt(spark, cat, MODEL_DRIFT)
    if md is not None:
        shift = md.where((F.col("model_name") == s["model_name"]) & (F.col("model_version") == s["model_version"])) \
            .select("window_start", "detector", "statistic", "threshold", "reference", "ci_lower", "ci_upper", "drift") \
            .orderBy("window_start", "detector").toPandas()
        panels.append(Panel("Label shift and concept-drift detectors per window", shift,
                            "A prevalence shift (label shift, BBSE) often explains a calibration alert.",
                            "model_drift"))
    return panels


def fairness_panels(spark: SparkSession, cat: Catalog, alert: Mapping[str, Any], s: Mapping[str, str]) -> list[Panel]:
    """Fairness: the group's gap over windows with its interval; the attribute's groups in the window."""
    f = _opt(spark, cat, FAIRNESS_DISPARITIES)
    if f is None:
        return [_missing("gap_history", "The gap over windows", FAIRNESS_DISPARITIES)]
    mine = f.where((F.col("model_name") == s["model_name"]) & (F.col("metric") == s["metric"])
                   & (F.col("attribute") == s["attribute"]))
    hist = mine.where(F.col("grp") == s["grp"]).select(
        "window_start", "model_version", "reference_group", "group_value", "reference_value", "difference",
        "ci_lower", "ci_upper", "n", "flagged").orderBy("window_start").toPandas()
    if len(hist):
        hist["interval_excludes_zero"] = (hist["ci_lower"] > 0) | (hist["ci_upper"] < 0)
    groups = mine.where(_same_day("window_start", alert["window_start"])).select(
        "grp", "reference_group", "group_value", "reference_value", "difference", "ci_lower", "ci_upper", "n",
        "flagged").orderBy("grp").toPandas()
    return [Panel(f"{s['metric']} gap of {s['attribute']}={s['grp']} over windows, with its interval", hist,
                  "Look at the interval of the gap and whether it persists, not only the point estimate.",
                  "gap_history"),
            Panel(f"Every reportable group of {s['attribute']} in the alert window", groups,
                  "Groups under the minimum size never appear.", "groups")]


def model_table_panels(spark: SparkSession, cat: Catalog, alert: Mapping[str, Any]) -> list[Panel]:
    """For model-lifecycle kinds without their own panels (concept drift, label shift, triggers,
    label requests): the model tables' rows of the alert's window, and the realized metrics
    over windows that confirm or dismiss an early sign."""
    model = str(alert["subject"]).split(" ", 1)[0]
    out = []
    for name, key in ((MODEL_DRIFT, "model_drift"), (MODEL_TRIGGERS, "model_triggers"),
                      (LABEL_REQUESTS, "label_requests")):
        df = _opt(spark, cat, name)
        if df is None:
            continue
        df = df.where(F.col("model_name") == model)
        if alert.get("window_start") is not None:
            df = df.where(_same_day("window_start", alert["window_start"]))
        rows = df.toPandas()
        out.append(Panel(f"{name} of {model} in the alert window", rows, "", key))
        if key == "model_triggers":
            out += trigger_evidence(spark, cat, rows)
    p = _opt(spark, cat, PERFORMANCE_METRICS)
    if p is not None:
        real = p.where((F.col("model_name") == model) & (F.col("attribute") == "all")
                       & F.col("metric").isin("auroc", "ece", "calibration_intercept")) \
            .select("window_start", "model_version", "method", "metric", "estimate", "ci_lower", "ci_upper", "n") \
            .orderBy("window_start", "metric", "method").toPandas()
        out.append(Panel(f"Realized and estimated metrics of {model} per window", real,
                         "Drift detectors are early signs: confirm with realized metrics as labels arrive.",
                         "confirming_metrics"))
    return out


def trigger_evidence(spark: SparkSession, cat: Catalog, triggers: pd.DataFrame) -> list[Panel]:
    """The drift rows a data-based trigger names: its detector and feature (set) between
    ``evidence_start`` and ``evidence_end``, whole population."""
    need = {"kind", "feature", "evidence_start", "evidence_end"}
    if triggers.empty or not need <= set(triggers.columns):
        return []
    out = []
    for t in triggers.dropna(subset=["feature", "evidence_start", "evidence_end"]).itertuples():
        table = MULTIVARIATE_DRIFT if t.kind == "multivariate_drift" else DRIFT_METRICS
        df = _opt(spark, cat, table)
        if df is None:
            continue
        rows = df.where((F.col("feature") == t.feature) & (F.col("slice") == "all")
                        & (F.to_date("window_start") >= F.lit(t.evidence_start))
                        & (F.to_date("window_start") <= F.lit(t.evidence_end))) \
            .select("window_start", "granularity", "reference", "detector", "status", "statistic", "p_value_adjusted",
                    "effect_size", "drift", "n_current").orderBy("window_start", "detector").toPandas()
        out.append(Panel(f"Evidence of the {t.kind} trigger: {t.feature}, {t.evidence_start} to {t.evidence_end}",
                         rows, "Is the shift a real population change or a feed problem (quality.md)? Retraining "
                         "on a broken feed teaches the model the bug.", "trigger_evidence"))
    return out


Builder = Callable[[SparkSession, Catalog, Mapping[str, Any], Mapping[str, str]], list[Panel]]

PANELS: dict[str, Builder] = {
    "drift": univariate_panels,
    "multivariate_drift": multivariate_panels,
    "quality": quality_panels,
    "quarantine": quarantine_panels,
    "performance": performance_panels,
    "calibration": performance_panels,
    "fairness": fairness_panels,
}
