"""Report sections of the model: performance (realized and CBPE), calibration, fairness, and the
model-monitoring tables (label shift, concept drift, triggers, label requests, champion vs challenger).

The reliability diagram is the one place the report joins the inference log with labels: it
keeps only per-bin aggregates (cases, mean predicted risk, observed rate) and drops bins smaller
than the minimum group size, so no patient's score or outcome reaches the HTML.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mlhops.io import Catalog, read_table, table_exists
from mlhops.io.tables.models import (
    FAIRNESS_DISPARITIES, INFERENCE_LOG, LABEL_REQUESTS, LABELS, MODEL_DRIFT, MODEL_TRIGGERS, PERFORMANCE_METRICS,
    PROMOTION_DECISIONS,
)
from mlhops.io.tables.operations import ALERTS
from mlhops.reporting import plots
from mlhops.reporting.html import badge, escape, figure, fmt, table
from mlhops.reporting.notes import day, muted, not_run

if TYPE_CHECKING:
    from mlhops.config.stages import ModelSettings
    from mlhops.hashing import KeyedHasher
    from mlhops.tracking import Tracker

logger = logging.getLogger(__name__)

CHART_METRICS = ("auroc", "ece")
MODEL_ALERT_KINDS = ("performance", "calibration")


def _series(g: pd.DataFrame) -> tuple[list[Any], list[float], list[float], list[float]]:
    g = g.dropna(subset=["estimate"]).sort_values("window_start")
    return (pd.to_datetime(g["window_start"]).tolist(), g["estimate"].tolist(), g["ci_lower"].tolist(),
            g["ci_upper"].tolist())


def reference_period(spark: SparkSession, cat: Catalog, tracker: Tracker | None, model: str, version: str,
                     task: str) -> tuple[dt.date, dt.date] | None:
    """The index dates the version was trained on: labels of ``task`` known by its
    ``mlhops.labels_as_of`` registry tag (None when the tag or the labels are not there)."""
    if tracker is None or not table_exists(spark, cat, LABELS):
        return None
    try:
        as_of = tracker.client().get_model_version(model, version).tags.get("mlhops.labels_as_of")
    except Exception:  # noqa: BLE001 - the report renders without the registry
        logger.warning("model registry not readable for the reference period", exc_info=True)
        return None
    if not as_of:
        return None
    row = read_table(spark, cat, LABELS).where(
        (F.col("task") == task) & (F.col("label_available_date") <= F.lit(dt.date.fromisoformat(as_of)))
    ).agg(F.min("index_date"), F.max("index_date")).first()
    return None if row is None or row[0] is None else (row[0], row[1])


def _alert_windows(spark: SparkSession, cat: Catalog, model: str) -> list[Any]:
    if not table_exists(spark, cat, ALERTS):
        return []
    rows = read_table(spark, cat, ALERTS).where(
        F.col("kind").isin(*MODEL_ALERT_KINDS) & F.col("subject").startswith(model + " ")
    ).select("window_start").distinct().collect()
    return sorted(pd.Timestamp(r[0]) for r in rows if r[0] is not None)


def performance(spark: SparkSession, cat: Catalog, tracker: Tracker | None = None, task: str = "") -> str:
    """Realized performance with bootstrap bands and the CBPE estimate over it, per model version;
    the reference (training) period shaded, performance/calibration alerts marked."""
    if not table_exists(spark, cat, PERFORMANCE_METRICS):
        return not_run(PERFORMANCE_METRICS)
    df = read_table(spark, cat, PERFORMANCE_METRICS).where(F.col("attribute") == "all").toPandas()
    if df.empty:
        return muted("The evaluate stage ran but no window of the champion has scores yet.")
    parts = []
    for (model, version), g in df.groupby(["model_name", "model_version"]):
        realized = {m: _series(g[(g["method"] == "realized") & (g["metric"] == m)]) for m in CHART_METRICS}
        estimated = {m: _series(g[(g["method"] == "cbpe") & (g["metric"] == m)]) for m in CHART_METRICS}
        realized = {k: v for k, v in realized.items() if v[0]}
        estimated = {k: v for k, v in estimated.items() if v[0]}
        ref = reference_period(spark, cat, tracker, str(model), str(version), task)
        alerts = _alert_windows(spark, cat, str(model))
        if realized or estimated:
            parts.append(figure(
                plots.model_performance(realized, estimated, title=f"{model} v{version}: realized vs CBPE estimate",
                                        reference=(pd.Timestamp(ref[0]), pd.Timestamp(ref[1])) if ref else None,
                                        alerts=alerts),
                "Solid: realized (labels arrived), with bootstrap bands; dashed: CBPE estimate from the scores alone; "
                "grey: the version's training period" + ("" if ref else " (not known)") +
                "; red triangles: performance/calibration alerts.", f"performance {model} {version}"))
        n_real = g[g["method"] == "realized"]["window_start"].nunique()
        if not n_real:
            parts.append(muted(f"{model} v{version}: no window has labels yet; only the CBPE estimate is shown."))
    latest = df[df["window_start"] == df["window_start"].max()]
    rows = [(r.model_name, r.model_version, r.method, r.metric, r.estimate, r.ci_lower, r.ci_upper, int(r.n))
            for r in latest.sort_values(["model_version", "method", "metric"]).itertuples()]
    return "".join(parts) + f"<h3>Latest window ({day(latest['window_start'].iloc[0])})</h3>" + table(
        ["model", "version", "method", "metric", "estimate", "CI low", "CI high", "n"], rows)


def calibration_bins(spark: SparkSession, cat: Catalog, hasher: KeyedHasher, models: ModelSettings,
                     as_of: dt.date) -> pd.DataFrame:
    """Per model version, period (latest labelled window / earlier windows) and score bin: cases,
    mean predicted risk, observed rate. Bins under the minimum group size are dropped.

    Returns:
        Columns model_name, model_version, period, bin, n, predicted, observed (aggregates only).
    """
    from mlhops.models.evaluation import join_labels

    log = read_table(spark, cat, INFERENCE_LOG)
    joined = join_labels(log, read_table(spark, cat, LABELS), task=models.task, hasher=hasher, as_of=as_of) \
        .where(F.col("label").isNotNull())
    last = joined.groupBy("model_name", "model_version").agg(F.max("window_start").alias("_last"))
    nb = models.ece_bins
    binned = joined.join(last, ["model_name", "model_version"]).select(
        "model_name", "model_version",
        F.when(F.col("window_start") == F.col("_last"), F.concat(F.lit("latest window "),
                                                                  F.col("_last").cast("string")))
        .otherwise(F.lit("earlier windows")).alias("period"),
        F.least(F.floor(F.col("score") * nb), F.lit(nb - 1)).cast("int").alias("bin"),
        "score", "label",
    )
    agg = binned.groupBy("model_name", "model_version", "period", "bin").agg(
        F.count(F.lit(1)).alias("n"), F.avg("score").alias("predicted"), F.avg("label").alias("observed"))
    pdf = agg.orderBy("model_name", "model_version", "period", "bin").toPandas()
    return pdf[pdf["n"] >= models.fairness.min_group_size].reset_index(drop=True)


def calibration(spark: SparkSession, cat: Catalog, hasher: KeyedHasher | None, models: ModelSettings) -> str:
    """Reliability diagram per model version (latest labelled window vs earlier ones) with the
    calibration metrics of the latest window."""
    if not table_exists(spark, cat, INFERENCE_LOG):
        return not_run(INFERENCE_LOG)
    if not table_exists(spark, cat, LABELS):
        return not_run(LABELS)
    if hasher is None:
        return muted("The reliability diagram needs the keyed hasher to match labels to scores; this report was "
                     "built without it.")
    bins = calibration_bins(spark, cat, hasher, models, dt.datetime.now(dt.timezone.utc).date())
    if bins.empty:
        return muted("No scored case has a known label yet (or every score bin is under the minimum group size "
                     f"of {models.fairness.min_group_size}): no reliability diagram.")
    parts = []
    for (model, version), g in bins.groupby(["model_name", "model_version"]):
        curves = {p: (gp["predicted"].tolist(), gp["observed"].tolist(), gp["n"].astype(int).tolist())
                  for p, gp in g.groupby("period")}
        parts.append(figure(plots.reliability(curves, title=f"Reliability: {model} v{version}"),
                            f"Mean predicted risk vs observed rate in {models.ece_bins} equal-width score bins "
                            f"(marker area ~ cases; bins under {models.fairness.min_group_size} cases omitted). "
                            "Points under the diagonal: the model over-predicts risk.",
                            f"reliability {model} {version}"))
    if table_exists(spark, cat, PERFORMANCE_METRICS):
        perf = read_table(spark, cat, PERFORMANCE_METRICS).where(
            (F.col("attribute") == "all") & (F.col("method") == "realized")
            & F.col("metric").isin("ece", "calibration_slope", "calibration_intercept", "brier")).toPandas()
        if len(perf):
            latest = perf[perf["window_start"] == perf["window_start"].max()].sort_values(["model_version", "metric"])
            parts.append(f"<h3>Calibration metrics, latest labelled window ({day(latest['window_start'].iloc[0])})</h3>"
                         + table(["model", "version", "metric", "estimate", "CI low", "CI high", "n"],
                                 [(r.model_name, r.model_version, r.metric, r.estimate, r.ci_lower, r.ci_upper,
                                   int(r.n)) for r in latest.itertuples()]))
    return "".join(parts)


def fairness(spark: SparkSession, cat: Catalog, min_group: int | None) -> str:
    """Subgroup gaps of the latest window with their intervals (groups under ``min_group`` never appear)."""
    if not table_exists(spark, cat, FAIRNESS_DISPARITIES):
        return not_run(FAIRNESS_DISPARITIES)
    df = read_table(spark, cat, FAIRNESS_DISPARITIES).toPandas()
    if df.empty:
        return muted("No fairness results yet: no window has labels for groups above the minimum size.")
    note = (f"<p>Groups with fewer than {min_group} cases are suppressed in every output and do not appear here.</p>"
            if min_group else "<p>Groups under the minimum size are suppressed in every output.</p>")
    latest = df[df["window_start"] == df["window_start"].max()].sort_values(["metric", "attribute", "grp"])
    parts = [note]
    for metric, g in latest.groupby("metric"):
        if metric not in ("sensitivity", "ppv", "ece", "auroc"):
            continue
        labels = [f"v{r.model_version} {r.attribute}={r.grp} vs {r.reference_group}" for r in g.itertuples()]
        # The stored interval is the group's own; against a fixed reference value it bounds the gap.
        lower, upper = g["ci_lower"] - g["reference_value"], g["ci_upper"] - g["reference_value"]
        parts.append(figure(plots.interval_dots(labels, g["difference"].tolist(), lower.tolist(),
                                                upper.tolist(), title=f"{metric} gap to the reference group",
                                                xlabel=f"{metric}: group - reference",
                                                flagged=g["flagged"].astype(bool).tolist()),
                            f"Gap of each reportable group's {metric} to its reference group, with the group's "
                            "bootstrap interval less the reference value (red: flagged); an interval across 0 is "
                            "not a demonstrated gap.",
                            f"fairness {metric}"))
    latest = latest.sort_values(["model_version", "metric", "attribute", "grp"])
    rows = [(f"v{r.model_version}", r.attribute, r.grp, r.reference_group, r.metric, r.group_value,
             r.reference_value, r.difference, r.ci_lower, r.ci_upper, int(r.n), badge("gap", "fail") if r.flagged else "")
            for r in latest.itertuples()]
    return "".join(parts) + f"<h3>Latest window ({day(latest['window_start'].iloc[0])})</h3>" + table(
        ["version", "attribute", "group", "reference", "metric", "group value", "reference value", "difference",
         "group CI low", "group CI high", "n", "flag"], rows)


def _summary(name: str, pdf: pd.DataFrame) -> str:
    """One line of counts: triggers by kind and action; label requests by status, time to label."""
    if pdf.empty:
        return ""
    if name == MODEL_TRIGGERS and {"kind", "action"} <= set(pdf.columns):
        counts = pdf.groupby(["kind", "action"]).size()
        return "<p>" + escape(", ".join(f"{n} {k} ({a})" for (k, a), n in counts.items())) + "</p>"
    if name == LABEL_REQUESTS and "status" in pdf.columns:
        text = ", ".join(f"{n} {k}" for k, n in pdf["status"].value_counts().sort_index().items())
        if "days_to_label" in pdf.columns and pdf["days_to_label"].notna().any():
            text += f"; median time to label {pdf['days_to_label'].median():.0f} days"
        return f"<p>{escape(text)}</p>"
    return ""


def monitoring(spark: SparkSession, cat: Catalog) -> str:
    """Label shift and concept-drift detectors, retrain/recalibrate triggers and label requests."""
    parts = []
    if table_exists(spark, cat, MODEL_DRIFT):
        md = read_table(spark, cat, MODEL_DRIFT).toPandas().sort_values("window_start")
        series = {det: (pd.to_datetime(g["window_start"]).tolist(), g["statistic"].tolist())
                  for det, g in md.groupby("detector") if g["statistic"].notna().any()}
        if series:
            parts.append(figure(plots.lines_over_time(series, title="Label shift and concept-drift statistics",
                                                      ylabel="statistic"),
                                "Per window and detector (BBSE prevalence, score PSI, CUSUM / Page-Hinkley / DDM ...); "
                                "flagged windows are listed below.", "model drift"))
        flagged = md[md["drift"].fillna(False).astype(bool)].iloc[::-1].head(20)
        parts.append("<h3>Flagged label-shift / concept-drift windows</h3>" + (
            table(["model", "version", "window", "detector", "statistic", "threshold", "CI low", "CI high", "n"],
                  [(r.model_name, r.model_version, day(r.window_start), r.detector, r.statistic, r.threshold,
                    r.ci_lower, r.ci_upper, int(r.n or 0)) for r in flagged.itertuples()])
            if len(flagged) else muted("No detector flagged a window.")))
    else:
        parts.append(not_run(MODEL_DRIFT))
    for name, title, cols in (
        (MODEL_TRIGGERS, "Retrain / recalibrate triggers", ["model_name", "model_version", "window_start", "kind",
                                                           "action", "detector", "feature", "effect_size", "reason"]),
        (LABEL_REQUESTS, "Label requests", ["model_name", "window_start", "policy", "reason", "n_requested",
                                            "priority", "status", "labelled_on", "days_to_label"]),
    ):
        parts.append(f"<h3>{escape(title)}</h3>")
        if not table_exists(spark, cat, name):
            parts.append(not_run(name))
            continue
        pdf = read_table(spark, cat, name).toPandas()
        keep = [c for c in cols if c in pdf.columns]
        parts.append(_summary(name, pdf))
        pdf = pdf.sort_values("window_start", ascending=False).head(20)
        parts.append(table(keep, [tuple(day(v) if c == "window_start" else v for c, v in zip(keep, r))
                                  for r in pdf[keep].itertuples(index=False)])
                     if len(pdf) else muted(f"None recorded: {name.replace('.', '/')} is empty."))
    parts.append("<h3>Champion vs challenger</h3>" + promotion_decisions(spark, cat))
    return "".join(parts)


def _interval(v: float, lo: float, hi: float) -> str:
    return f"{v:+.3f} [{lo:+.3f}, {hi:+.3f}]" if pd.notna(v) and pd.notna(lo) else fmt(v)


def promotion_decisions(spark: SparkSession, cat: Catalog) -> str:
    """The declared rule's decisions on each champion / challenger pair, newest first, with the evidence."""
    if not table_exists(spark, cat, PROMOTION_DECISIONS):
        return muted("No challenger compared yet: a challenger is trained or recalibrated when a trigger fires, "
                     "shadow-scored, then compared here on the cases neither model saw.")
    pdf = read_table(spark, cat, PROMOTION_DECISIONS).toPandas().sort_values("decided_at", ascending=False).head(20)
    css = {"promote": "ok", "reject_challenger": "fail"}
    rows = [(r.model_name, f"v{r.champion_version}", f"v{r.challenger_version}", day(r.labels_as_of),
             badge(r.decision.replace("_", " "), css.get(r.decision, "muted")), "yes" if r.applied else "no",
             f"{int(r.n)} ({int(r.n_positive)}+, {int(r.n_persons)} persons)",
             _interval(r.auroc_diff, r.auroc_diff_lower, r.auroc_diff_upper),
             _interval(r.brier_diff, r.brier_diff_lower, r.brier_diff_upper),
             f"{fmt(r.ece_champion)} -> {fmt(r.ece_challenger)}", r.reason) for r in pdf.itertuples()]
    return ("<p>Both versions on the same labelled cases of persons neither training saw; differences are "
            "challenger - champion with paired-bootstrap intervals (persons resampled). The rule is declared in "
            "<code>models.promotion</code>; applied = the aliases moved (auto-promotion, or a rejected challenger "
            "retired).</p>"
            + table(["model", "champion", "challenger", "labels as of", "decision", "applied", "cases",
                     "AUROC diff [CI]", "Brier diff [CI]", "ECE", "why"], rows))


def _versions_to_compare(tracker: Tracker | None, name: str, have: list[str]) -> list[str]:
    """Champion then challenger when the registry names them and they have a training profile;
    otherwise the two newest versions with one."""
    from mlhops.models import registry

    picked: list[str] = []
    if tracker is not None:
        try:
            for alias in (registry.CHAMPION, registry.CHALLENGER):
                v = registry.alias_version(tracker, name, alias)
                if v is not None and v in have and v not in picked:
                    picked.append(v)
        except Exception:  # noqa: BLE001 - the report renders without the registry
            logger.warning("model registry not readable for the importance comparison", exc_info=True)
    return picked or sorted(have, key=int)[-2:]


def _ci(v: float, lo: float, hi: float) -> str:
    return f"{v:.4f} [{lo:.4f}, {hi:.4f}]" if pd.notna(lo) and pd.notna(hi) else fmt(v)


def importance(spark: SparkSession, cat: Catalog, tracker: Tracker | None = None, top_k: int = 10) -> str:
    """Global importance (validation split) of champion and challenger side by side, with rank changes."""
    from mlhops.io.tables.models import MODEL_IMPORTANCE
    from mlhops.models.explain import TRAINING

    if not table_exists(spark, cat, MODEL_IMPORTANCE):
        return not_run(MODEL_IMPORTANCE)
    df = read_table(spark, cat, MODEL_IMPORTANCE).where(F.col("computed_on") == TRAINING).toPandas()
    if df.empty:
        return muted("No version has a training importance profile yet.")
    parts = ["<p>Permutation importance: the drop in AUROC on the version's validation persons when one "
             "feature is shuffled, mean over the repeats with a t-interval; rank 1 matters most.</p>"]
    for name, g in df.groupby("model_name"):
        versions = _versions_to_compare(tracker, str(name), sorted(g["model_version"].astype(str).unique()))
        prof = {v: g[g["model_version"] == v].set_index("feature") for v in versions}
        first = prof[versions[0]].sort_values("rank")
        shown = list(first.index[:top_k])
        for v in versions[1:]:
            shown += [f for f in prof[v].sort_values("rank").index[:top_k] if f not in shown]
        labels, est, lo, hi = [], [], [], []
        for f in shown:
            for v in versions:
                if f in prof[v].index:
                    r = prof[v].loc[f]
                    labels.append(f"{f} v{v}")
                    est.append(float(r["importance"]))
                    lo.append(float(r["ci_lower"]))
                    hi.append(float(r["ci_upper"]))
        title = " vs ".join(f"v{v}" for v in versions)
        parts.append(figure(plots.interval_dots(labels, est, lo, hi, title=f"{name}: importance {title}",
                                                xlabel="AUROC drop when the feature is permuted"),
                            "Each feature's importance in each version with its interval; an interval across 0 "
                            "is not a demonstrated contribution.", f"importance {name}"))
        headers = ["feature"] + [h for v in versions for h in (f"v{v} importance [CI]", f"v{v} rank")]
        if len(versions) > 1:
            headers.append(f"rank change v{versions[0]} -> v{versions[1]}")
        rows = []
        for f in shown:
            row: list[Any] = [f]
            ranks = []
            for v in versions:
                if f in prof[v].index:
                    r = prof[v].loc[f]
                    row += [_ci(r["importance"], r["ci_lower"], r["ci_upper"]), int(r["rank"])]
                    ranks.append(int(r["rank"]))
                else:
                    row += ["—", "—"]
                    ranks.append(None)
            if len(versions) > 1:
                row.append(f"{ranks[0] - ranks[1]:+d}" if None not in ranks[:2] else "—")
            rows.append(tuple(row))
        parts.append(f"<h3>{escape(name)}: {escape(title)}</h3>" + table(headers, rows))
        if len(versions) == 1:
            parts.append(muted("Only one version has a training importance profile (a recalibration keeps its "
                               "parent's ranking: it changes no feature's effect on the ordering)."))
    return "".join(parts)


def importance_drift(spark: SparkSession, cat: Catalog, min_rank_correlation: float) -> str:
    """Rank correlation of each labelled window's importance profile with its version's training profile."""
    from mlhops.io.tables.models import MODEL_IMPORTANCE
    from mlhops.models.explain import TRAINING

    if not table_exists(spark, cat, MODEL_IMPORTANCE):
        return not_run(MODEL_IMPORTANCE)
    df = read_table(spark, cat, MODEL_IMPORTANCE).where(F.col("computed_on") != TRAINING).toPandas()
    if df.empty:
        return muted("No labelled window has enough cases for an importance profile yet.")
    per = df.groupby(["model_name", "model_version", "computed_on"], as_index=False).agg(
        rho=("rank_correlation", "first"), n=("n", "first"))
    tops = df[df["rank"] == 1].set_index(["model_name", "model_version", "computed_on"])["feature"]
    per = per.sort_values(["model_name", "model_version", "computed_on"])
    series = {f"{m} v{v}": (pd.to_datetime(g["computed_on"]).tolist(), g["rho"].astype(float).tolist())
              for (m, v), g in per.groupby(["model_name", "model_version"]) if g["rho"].notna().any()}
    parts = []
    if series:
        parts.append(figure(plots.lines_over_time(series, title="Importance profile vs training (Spearman)",
                                                  ylabel="rank correlation", threshold=min_rank_correlation),
                            "Per labelled window: Spearman correlation of the features' permutation importance "
                            "with the version's training profile; below the line the model leans on different "
                            "features than it learned to.", "importance drift"))
    rows = []
    for r in per.itertuples():
        low = pd.notna(r.rho) and r.rho < min_rank_correlation
        rows.append((r.model_name, f"v{r.model_version}", r.computed_on, fmt(r.rho), int(r.n),
                     tops.get((r.model_name, r.model_version, r.computed_on), "—"),
                     badge("changed", "fail") if low else ""))
    return "".join(parts) + table(["model", "version", "window", "rank correlation", "cases", "top feature",
                                   "flag"], rows)
