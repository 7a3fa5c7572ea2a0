"""Stage ``report``: the HTML monitoring report, model card and checklist (HTML section and
``checklist.md`` beside the report), written and logged to MLflow."""

from __future__ import annotations

from mlhops.pipelines.context import Context
from mlhops.pipelines.stage import NoOptions, StageRequest, StageResult
from mlhops.reporting.checklist import render_markdown
from mlhops.reporting.report import build_report, gather_checklist, log_report, write_report


def run(ctx: Context, req: StageRequest[NoOptions]) -> StageResult:
    """Build the report from the platform tables, write it beside the warehouse, log it."""
    s = ctx.settings
    records = s.governance.checklist
    items = gather_checklist(ctx.spark, ctx.catalog, ctx.tracker, records)
    html = build_report(ctx.spark, ctx.catalog, ctx.tracker, report=s.report, models=s.models,
                        environment=s.environment, run_id=req.run_id, hasher=ctx.hasher, records=records,
                        checklist_items=items)
    path = write_report(html, ctx.catalog, req.run_id, render_markdown(items, run_id=req.run_id))
    log_report(ctx.tracker, path, req.run_id)
    return StageResult("report", "ok", f"report at {path}",
                       metrics={"report_bytes": float(path.stat().st_size)}, details={"report_path": str(path)})
