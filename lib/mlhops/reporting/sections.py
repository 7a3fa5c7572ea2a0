"""Report sections of operations: alerts, this run's stages, ETL, data quality.

Each reads small, already-aggregated platform tables (never raw patient rows) and returns HTML;
a table that does not exist yet yields a short "not run yet" note. Drift sections are in
:mod:`~mlhops.reporting.drift_sections`, model sections in :mod:`~mlhops.reporting.model_sections`.
"""

from __future__ import annotations

import json

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mlhops.alerts.rules import SEVERITY_ORDER
from mlhops.io import Catalog, read_table, table_exists
from mlhops.io.tables.core import RUNS
from mlhops.io.tables.operations import ALERTS, QUALITY_RESULTS
from mlhops.reporting.html import Raw, badge, escape, table
from mlhops.reporting.notes import day as _day
from mlhops.reporting.notes import muted
from mlhops.reporting.notes import not_run as _not_run


def _pdf(spark: SparkSession, cat: Catalog, name: str) -> pd.DataFrame | None:
    if not table_exists(spark, cat, name):
        return None
    return read_table(spark, cat, name).toPandas()


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
        (badge(r.severity, f"sev-{r.severity}"), r.kind, r.rule_id, r.subject, _day(r.window_start), r.message,
         Raw(f'<code>{escape(r.runbook)}</code>'), "this run" if r.first_run_id == run_id else _day(r.raised_at))
        for r in df.head(200).itertuples()
    ]
    kinds = ", ".join(f"{n} {escape(k)}" for k, n in df["kind"].value_counts().sort_index().items())
    head = (f"<p>{len(df)} alert(s) recorded ({kinds}); newest first within severity. "
            "<code>notebooks/explore_drift_alert.py</code> shows what each alert's runbook asks to check.</p>")
    return head + table(["severity", "kind", "rule", "subject", "window", "what", "runbook", "raised"], rows)


def pipeline(spark: SparkSession, cat: Catalog, run_id: str) -> str:
    """The stages of ``run_id``: status, duration, Delta versions written, message."""
    df = _pdf(spark, cat, RUNS)
    if df is None:
        return _not_run(RUNS)
    mine = df[df["run_id"] == run_id].sort_values("started_at")
    if mine.empty:
        return muted(f"No stage of run {run_id} is recorded in mlhops/runs.")
    rows = [
        (r.stage, badge(r.status, "ok" if r.status in ("ok", "skipped") else "fail"), float(r.duration_s),
         ", ".join(f"{k} v{v}" for k, v in sorted((r.tables or {}).items())) or "—", r.message)
        for r in mine.itertuples()
    ]
    not_ok = [(r.stage, r.status, r.message or "no reason recorded") for r in mine.itertuples()
              if r.status in ("skipped", "failed")]
    listed = "".join(f"<li><b>{escape(s)}</b> {escape(st)}: {escape(why)}</li>" for s, st, why in not_ok)
    head = (f"<p>{len(mine)} stage(s) ran; skipped or failed, and why:</p><ul>{listed}</ul>" if not_ok
            else f"<p>{len(mine)} stage(s) ran; none was skipped or failed.</p>")
    return head + table(["stage", "status", "seconds", "Delta versions written", "message"], rows)


def etl(spark: SparkSession, cat: Catalog) -> str:
    """The latest ETL run: row conservation per source table and concept mapping rates."""
    df = _pdf(spark, cat, RUNS)
    if df is None:
        return _not_run(RUNS)
    etl_runs = df[(df["stage"] == "etl") & df["status"].isin(["ok", "alerts"])].sort_values("ended_at")
    if etl_runs.empty:
        return muted("No ETL run recorded (the warehouse was loaded by other means, or the ETL has not run).")
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
        + (table(["check", "category", "table.field", "window", "rows checked", "rows failing", "% failing",
                  "threshold %"], frows) if frows else muted("No check failed in any window."))
    )
