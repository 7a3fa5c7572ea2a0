"""Report sections. Each reads small, already-aggregated platform tables (never raw patient rows)
and returns HTML; a table that does not exist yet yields a short "not run yet" note."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mlhops.alerts.rules import SEVERITY_ORDER
from mlhops.io import Catalog, read_table, table_exists
from mlhops.io.tables.core import RUNS
from mlhops.io.tables.models import FAIRNESS_DISPARITIES, PERFORMANCE_METRICS
from mlhops.io.tables.monitoring import DRIFT_METRICS, MULTIVARIATE_DRIFT
from mlhops.io.tables.operations import ALERTS, QUALITY_RESULTS
from mlhops.reporting import plots
from mlhops.reporting.html import Raw, badge, escape, figure, table

NOT_RUN = '<p class="muted">The stage that writes <code>{}</code> has not run yet.</p>'


def _not_run(name: str) -> str:
    """The "not run yet" note of a table (shown as ``mlhops/<table>``)."""
    return NOT_RUN.format(name.replace(".", "/"))


def _pdf(spark: SparkSession, cat: Catalog, name: str) -> pd.DataFrame | None:
    if not table_exists(spark, cat, name):
        return None
    return read_table(spark, cat, name).toPandas()


def _day(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and v != v) else str(v)[:10]


def alerts(spark: SparkSession, cat: Catalog, run_id: str) -> str:
    """Every recorded alert, most severe and newest first; those raised by ``run_id`` marked."""
    df = _pdf(spark, cat, ALERTS)
    if df is None:
        return _not_run(ALERTS)
    if df.empty:
        return '<p class="ok">No alerts.</p>'
    order = {k: -v for k, v in SEVERITY_ORDER.items()}  # most severe first
    df = df.assign(_o=df["severity"].map(order)).sort_values(["_o", "window_start"], ascending=[True, False])
    rows = [
        (badge(r.severity, f"sev-{r.severity}"), r.rule_id, r.subject, _day(r.window_start), r.message,
         Raw(f'<code>{escape(r.runbook)}</code>'), "this run" if r.first_run_id == run_id else _day(r.raised_at))
        for r in df.head(200).itertuples()
    ]
    head = f"<p>{len(df)} alert(s) recorded; newest first within severity.</p>"
    return head + table(["severity", "rule", "subject", "window", "what", "runbook", "raised"], rows)


def pipeline(spark: SparkSession, cat: Catalog, run_id: str) -> str:
    """The stages of ``run_id``: status, duration, Delta versions written, message."""
    df = _pdf(spark, cat, RUNS)
    if df is None:
        return _not_run(RUNS)
    mine = df[df["run_id"] == run_id].sort_values("started_at")
    rows = [
        (r.stage, badge(r.status, "ok" if r.status in ("ok", "skipped") else "fail"), float(r.duration_s),
         ", ".join(f"{k} v{v}" for k, v in sorted((r.tables or {}).items())) or "—", r.message)
        for r in mine.itertuples()
    ]
    return table(["stage", "status", "seconds", "Delta versions written", "message"], rows)


def etl(spark: SparkSession, cat: Catalog) -> str:
    """The latest ETL run: row conservation per source table and concept mapping rates."""
    df = _pdf(spark, cat, RUNS)
    if df is None:
        return _not_run(RUNS)
    etl_runs = df[(df["stage"] == "etl") & df["status"].isin(["ok", "alerts"])].sort_values("ended_at")
    if etl_runs.empty:
        return '<p class="muted">No ETL run recorded.</p>'
    last = etl_runs.iloc[-1]
    m = last["metrics"] or {}
    details = json.loads(last["details_json"] or "{}")
    tables = sorted({k.split(".", 1)[1] for k in m if k.startswith("rows_read.")})
    rows = []
    for t in tables:
        read = int(m.get(f"rows_read.{t}", 0))
        q = int(m.get(f"rows_quarantined.{t}", 0))
        rows.append((t, read, int(m.get(f"rows_loaded.{t}", 0)), q, int(m.get(f"rows_filtered.{t}", 0)),
                     (100.0 * q / read) if read else 0.0))
    maps = [(k.split(".", 1)[1], float(v) * 100) for k, v in sorted(m.items()) if k.startswith("mapping_rate.")]
    files = details.get("input_files", [])
    return (
        f"<p>Latest ETL: source <b>{escape(details.get('source', ''))}</b> ({escape(details.get('layout', ''))}), "
        f"{len(files)} input file(s), run <code>{escape(last['run_id'])}</code>.</p>"
        "<h3>Conservation per source table (read = loaded + quarantined + filtered)</h3>"
        + table(["source table", "read", "loaded", "quarantined", "filtered", "% quarantined"], rows)
        + "<h3>Concept mapping rate per vocabulary</h3>"
        + table(["vocabulary", "% mapped to a standard concept"], maps)
    )


def quality(spark: SparkSession, cat: Catalog) -> str:
    """Check-windows per Kahn category and status, and the latest failing checks."""
    if not table_exists(spark, cat, QUALITY_RESULTS):
        return _not_run(QUALITY_RESULTS)
    q = read_table(spark, cat, QUALITY_RESULTS)
    summary = (
        q.groupBy("category", "status").count().orderBy("category", "status").toPandas()
    )
    failing = q.where(F.col("status") == "fail").orderBy(F.col("window_start").desc()).limit(50).toPandas()
    rows = [(r["category"], r["status"], int(r["count"])) for _, r in summary.iterrows()]
    frows = [
        (r.check_id, r.category, f"{r.table_name}.{r.field or ''}", _day(r.window_start), int(r.rows_checked or 0),
         int(r.rows_failing or 0), float(r.pct_failing or 0), float(r.threshold_pct or 0))
        for r in failing.itertuples()
    ]
    return (
        "<h3>Checks by Kahn category</h3>" + table(["category", "status", "check-windows"], rows)
        + "<h3>Failing checks (latest first)</h3>"
        + table(["check", "category", "table.field", "window", "rows checked", "rows failing", "% failing", "threshold %"], frows)
    )


def drift(spark: SparkSession, cat: Catalog, max_windows: int) -> str:
    """Univariate drift vs the baseline: effect-size heatmaps and lines, flagged feature-windows."""
    if not table_exists(spark, cat, DRIFT_METRICS):
        return _not_run(DRIFT_METRICS)
    d = read_table(spark, cat, DRIFT_METRICS).where(
        (F.col("slice") == "all") & (F.col("reference") == "baseline") & (F.col("status") == "ok")
    )
    # one effect size per feature and window: the largest across the feature's tests
    agg = (
        d.groupBy("granularity", "feature", "window_start")
        .agg(F.max(F.abs("effect_size")).alias("effect"), F.max(F.col("drift").cast("int")).alias("drift"))
        .toPandas()
    )
    if agg.empty:
        return '<p class="muted">No drift results yet.</p>'
    parts = []
    for gran, g in agg.groupby("granularity"):
        windows = sorted(g["window_start"].unique())[-max_windows:]
        g = g[g["window_start"].isin(windows)]
        pivot = g.pivot_table(index="feature", columns="window_start", values="effect", aggfunc="max")
        labels = [str(w)[:10] for w in pivot.columns]
        parts.append(figure(
            plots.heatmap(list(pivot.index), labels, pivot.values.tolist(),
                          title=f"Drift effect size per feature, {gran} windows vs baseline", cbar="effect size"),
            f"Largest effect size across tests per feature and {gran} window (whole population).",
            f"drift heatmap {gran}",
        ))
        top = g.groupby("feature")["effect"].max().sort_values(ascending=False).head(6).index
        series = {f: (pd.to_datetime(g[g.feature == f]["window_start"]).tolist(), g[g.feature == f]["effect"].tolist())
                  for f in top}
        series = {k: (list(zip(*sorted(zip(*v))))[0], list(zip(*sorted(zip(*v))))[1]) for k, v in series.items() if v[0]}
        if series:
            parts.append(figure(plots.lines_over_time(series, title=f"Drift over time: top features ({gran})",
                                                      ylabel="effect size"),
                                f"Six features with the largest effect, {gran} windows.", f"drift lines {gran}"))
    flagged = (
        d.where(F.col("drift")).orderBy(F.col("window_start").desc()).limit(40)
        .select("granularity", "window_start", "feature", "detector", "statistic", "p_value_adjusted",
                "effect_size", "effect_size_name", "n_current").toPandas()
    )
    rows = [(r.granularity, _day(r.window_start), r.feature, r.detector, r.statistic, r.p_value_adjusted,
             r.effect_size, r.effect_size_name, int(r.n_current)) for r in flagged.itertuples()]
    return "".join(parts) + "<h3>Flagged feature-windows (latest first)</h3>" + table(
        ["granularity", "window", "feature", "test", "statistic", "adj. p", "effect", "effect measure", "n"], rows)


def multivariate(spark: SparkSession, cat: Catalog) -> str:
    """Multivariate drift p-values per detector over time and the latest results."""
    df = _pdf(spark, cat, MULTIVARIATE_DRIFT)
    if df is None:
        return _not_run(MULTIVARIATE_DRIFT)
    if df.empty:
        return '<p class="muted">No multivariate results yet.</p>'
    df = df.sort_values("window_start")
    series = {}
    for det, g in df[df["slice"] == "all"].groupby("detector"):
        series[det] = (pd.to_datetime(g["window_start"]).tolist(), g["p_value"].fillna(1.0).tolist())
    parts = []
    if series:
        thr = float(df["threshold"].dropna().iloc[0]) if df["threshold"].notna().any() else None
        parts.append(figure(plots.lines_over_time(series, title="Multivariate drift p-values per window",
                                                  ylabel="p-value", threshold=thr),
                            "Each registered detector on the whole population; below the line = drift.", "multivariate drift"))
    last = df.tail(30).iloc[::-1]
    rows = [(_day(r.window_start), r.detector, r.feature, f"{r.slice}={r.slice_value}", r.statistic, r.p_value,
             badge("drift", "fail") if r.drift else "no", int(r.n_reference), int(r.n_current)) for r in last.itertuples()]
    return "".join(parts) + table(["window", "detector", "feature set", "slice", "statistic", "p-value", "flag",
                                   "n ref", "n cur"], rows)


def performance(spark: SparkSession, cat: Catalog) -> str:
    """Whole-population performance per window with bootstrap bands, and the latest window."""
    df = _pdf(spark, cat, PERFORMANCE_METRICS)
    if df is None:
        return _not_run(PERFORMANCE_METRICS)
    overall = df[df["attribute"] == "all"].sort_values("window_start")
    if overall.empty:
        return '<p class="muted">No performance results yet.</p>'
    parts = []
    for method, g in overall.groupby("method"):
        series, bands = {}, {}
        for metric in ("auroc", "auprc", "sensitivity", "ppv", "brier", "ece"):
            gm = g[g["metric"] == metric].dropna(subset=["estimate"])
            if gm.empty:
                continue
            xs = pd.to_datetime(gm["window_start"]).tolist()
            series[metric] = (xs, gm["estimate"].tolist())
            if gm["ci_lower"].notna().all():
                bands[metric] = (gm["ci_lower"].tolist(), gm["ci_upper"].tolist())
        if series:
            parts.append(figure(plots.lines_over_time(series, title=f"Model performance per window ({method})",
                                                      ylabel="value", bands=bands),
                                f"{method}: point estimates with bootstrap confidence bands.", f"performance {method}"))
    latest = overall[overall["window_start"] == overall["window_start"].max()]
    rows = [(r.model_name, r.model_version, r.method, r.metric, r.estimate, r.ci_lower, r.ci_upper, int(r.n))
            for r in latest.sort_values(["method", "metric"]).itertuples()]
    return "".join(parts) + f"<h3>Latest window ({_day(latest['window_start'].iloc[0])})</h3>" + table(
        ["model", "version", "method", "metric", "estimate", "CI low", "CI high", "n"], rows)


def fairness(spark: SparkSession, cat: Catalog, min_group: int | None) -> str:
    """Subgroup gaps of the latest window (groups under ``min_group`` never appear)."""
    df = _pdf(spark, cat, FAIRNESS_DISPARITIES)
    if df is None:
        return _not_run(FAIRNESS_DISPARITIES)
    if df.empty:
        return '<p class="muted">No fairness results yet (labels may not have arrived).</p>'
    latest = df[df["window_start"] == df["window_start"].max()].sort_values(["attribute", "metric", "grp"])
    rows = [(r.attribute, r.grp, r.reference_group, r.metric, r.group_value, r.reference_value, r.difference,
             r.ratio, int(r.n), badge("gap", "fail") if r.flagged else "") for r in latest.itertuples()]
    note = (f"<p>Groups with fewer than {min_group} cases are suppressed in every output and do not appear here.</p>"
            if min_group else "<p>Groups under the minimum size are suppressed in every output.</p>")
    return note + table(["attribute", "group", "reference", "metric", "group value", "reference value",
                         "difference", "ratio", "n", "flag"], rows)
