"""Stage ``quality``: declared checks over the OMOP tables -> ``mlhops.quality_results``.

A failing check is data (status ``fail`` in the results), never an exception; the stage status
is ``alerts`` when any check fails. ``req.start``/``end`` restrict the run to the windows of
``[start, end)`` (results of other windows are left as they are); otherwise every window is
recomputed and the table replaced.
"""

from __future__ import annotations

import logging

from mlhops.io import replace_where, table_version, write_overwrite
from mlhops.io.tables.operations import QUALITY_RESULTS
from mlhops.pipelines.context import Context
from mlhops.pipelines.stage import NoOptions, StageRequest, StageResult
from mlhops.quality.rules import CheckSpec, checks_dir, load_checks
from mlhops.quality.runner import evaluate_checks, input_fingerprint, read_inputs, summarize, window_predicate

logger = logging.getLogger(__name__)


def _checks(ctx: Context) -> list[CheckSpec]:
    return load_checks(checks_dir(ctx.settings.sources, ctx.settings.quality))


def fingerprint(ctx: Context, req: StageRequest[NoOptions]) -> str:
    """Delta versions of every OMOP table the checks read, plus the checks and settings: when
    none changed, the orchestrator skips the stage (the results would be identical)."""
    return input_fingerprint(ctx.spark, ctx.catalog, _checks(ctx), ctx.settings.quality)


def run(ctx: Context, req: StageRequest[NoOptions]) -> StageResult:
    """Evaluate the checks and write their per-window results."""
    quality = ctx.settings.quality
    checks = _checks(ctx)
    frames = read_inputs(ctx.spark, ctx.catalog, checks)
    results = evaluate_checks(ctx.spark, frames, checks, quality, req.start, req.end).cache()
    try:
        predicate = window_predicate(quality.window, req.start, req.end)
        if predicate is None:
            write_overwrite(results, ctx.catalog, QUALITY_RESULTS)
        else:
            replace_where(results.where(predicate), ctx.catalog, QUALITY_RESULTS, predicate)
        s = summarize(results)
    finally:
        results.unpersist()
    logger.info("quality: %d results, %d failing (%d checks)", s.results, s.failing, s.failing_checks)
    return StageResult(
        "quality",
        "alerts" if s.failing else "ok",
        f"{s.failing_checks} of {len(checks)} checks failing in at least one window",
        metrics={"results": float(s.results), "failing_results": float(s.failing),
                 "failing_checks": float(s.failing_checks)},
        tables={QUALITY_RESULTS: int(table_version(ctx.spark, ctx.catalog, QUALITY_RESULTS) or 0)},
    )
