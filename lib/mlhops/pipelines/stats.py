"""Stage ``stats``: feature table -> profile states, profile metrics, univariate drift.

Incremental: only the days touched since the last processed version of ``mlhops.features``
(:mod:`mlhops.stats.touched`) are re-aggregated from rows; everything else is merged from stored
states (:mod:`mlhops.stats.runner`). ``--force`` (or an unusable feed) recomputes everything;
``start``/``end`` additionally recompute the days of ``[start, end)``. Such a run is marked
unfinished until its last commit, so an interrupted one is completed by the next run (a full
recompute) rather than leaving windows half rewritten behind an up-to-date watermark. The stage composes the
statistics with univariate drift (:mod:`mlhops.drift.window_drift`), which gets the new states.
"""

from __future__ import annotations

import logging

from mlhops.drift.window_drift import WindowStatesDrift
from mlhops.features.spec import load_feature_specs
from mlhops.io import table_exists, table_version
from mlhops.io.changes import read_watermarks, write_watermarks
from mlhops.io.tables.monitoring import DRIFT_METRICS, FEATURES, PROFILE_METRICS, PROFILE_STATES
from mlhops.pipelines.context import Context
from mlhops.pipelines.stage import NoOptions, StageRequest, StageResult
from mlhops.stats.runner import update_profiles
from mlhops.stats.timing import timed
from mlhops.stats.touched import touched_days, with_requested_days

logger = logging.getLogger(__name__)

NAME = "stats"
# A watermark row of the stage: 1 from the start of a run the feature watermark cannot redo (a full
# recompute, or requested days) until its last commit; a run finding it at 1 recomputes everything.
UNFINISHED = "unfinished_recompute"


def run(ctx: Context, req: StageRequest[NoOptions]) -> StageResult:
    """Update profile states/metrics and drift metrics for the windows touched by new rows."""
    spark, cat, st = ctx.spark, ctx.catalog, ctx.settings.stats
    if not table_exists(spark, cat, FEATURES):
        return StageResult(NAME, "skipped", f"feature table {FEATURES} does not exist yet")
    specs = load_feature_specs(ctx.settings)
    with timed("feature version, watermark and change feed"):
        version = int(table_version(spark, cat, FEATURES) or 0)
        marks = read_watermarks(spark, cat, NAME)
        unfinished = marks.get(UNFINISHED, 0) == 1
        touched = touched_days(spark, cat, None if req.force or unfinished else marks.get(FEATURES), version)
    touched = with_requested_days(spark, cat, touched, req.start, req.end)
    if touched == [] and table_exists(spark, cat, PROFILE_STATES):
        write_watermarks(spark, cat, NAME, {FEATURES: version}, previous=marks)
        return StageResult(NAME, "ok", "no new feature rows", metrics={"days_recomputed": 0.0})
    if (touched is None or req.start is not None or req.end is not None) and not unfinished:
        # The watermark alone cannot redo this run's work: mark it, so that if it dies between its
        # commits the next run recomputes everything instead of trusting half-rewritten windows.
        write_watermarks(spark, cat, NAME, {UNFINISHED: 1}, previous=marks)
        marks = {**marks, UNFINISHED: 1}
    drift = WindowStatesDrift(spark, cat, st.drift) if st.drift.enabled else None
    result = update_profiles(spark, cat, st, specs, touched, drift)
    with timed("watermark write and table versions"):
        write_watermarks(spark, cat, NAME, {FEATURES: version, UNFINISHED: 0}, previous=marks)
        written = (PROFILE_STATES, PROFILE_METRICS, DRIFT_METRICS)
        tables = {name: int(table_version(spark, cat, name) or 0) for name in written if table_exists(spark, cat, name)}
    mode = "full" if touched is None else "incremental"
    metrics = {"days_recomputed": float(result.days), "drift_windows": float(result.drift_windows)}
    metrics.update({f"windows_{k}": float(v) for k, v in result.windows.items()})
    logger.info("stats: %s run over %d days", mode, result.days)
    return StageResult(NAME, "ok", f"{mode}: {result.days} days recomputed", metrics=metrics, tables=tables)
