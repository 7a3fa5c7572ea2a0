"""Stage ``stats``: feature table -> profile states, profile metrics, univariate drift.

Incremental: the days touched since the last processed version of ``mlhops.features`` come
from its change data feed (both images of updated rows, so a row that moved day touches both
days); only those days are re-aggregated from rows, everything else is merged from stored
states. ``--force`` (or an unusable feed) recomputes everything; ``params.start``/``end``
additionally recompute the days of ``[start, end)``.
"""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mlhops.config.model import Settings
from mlhops.features.spec import load_feature_specs
from mlhops.io import Catalog, read_table, table_exists, table_version
from mlhops.pipelines.base import StageParams, StageResult
from mlhops.io.changes import changed_values, read_changes, read_watermarks, write_watermarks
from mlhops.stats.runner import DRIFT, FEATURES, PROFILE, STATES, timed, update_profiles

logger = logging.getLogger(__name__)

STAGE = "stats"


def touched_days(spark: SparkSession, catalog: Catalog, since: int | None, version: int) -> list[dt.date] | None:
    """Days of feature rows changed after version ``since``; None when only a full run will do."""
    if since is None:
        return None
    if since >= version:
        return []
    changes = read_changes(spark, catalog, FEATURES, since + 1)
    if changes is None:
        return None
    values = changed_values(changes, "event_date")
    if values is None:
        return None
    return sorted({v for v in values if isinstance(v, dt.date)})


def run(spark: SparkSession, settings: Settings, params: StageParams) -> StageResult:
    """Update profile states/metrics and drift metrics for the windows touched by new rows."""
    cat = Catalog(settings.warehouse)
    if not table_exists(spark, cat, FEATURES):
        return StageResult(STAGE, "skipped", "feature table mlhops.features does not exist yet")
    specs = load_feature_specs(settings)
    with timed("feature version, watermark and change feed"):
        version = int(table_version(spark, cat, FEATURES) or 0)
        marks = read_watermarks(spark, cat, STAGE)
        since = None if params.force else marks.get(FEATURES)
        touched = touched_days(spark, cat, since, version)
    if touched is not None and (params.start is not None or params.end is not None):
        rows = read_table(spark, cat, FEATURES)
        if params.start is not None:
            rows = rows.where(F.col("event_date") >= F.lit(params.start))
        if params.end is not None:
            rows = rows.where(F.col("event_date") < F.lit(params.end))
        extra = changed_values(rows, "event_date") or []
        touched = sorted(set(touched) | {d for d in extra if isinstance(d, dt.date)})
    if touched == [] and table_exists(spark, cat, STATES):
        write_watermarks(spark, cat, STAGE, {FEATURES: version}, previous=marks)
        return StageResult(STAGE, "ok", "no new feature rows", metrics={"days_recomputed": 0.0})
    result = update_profiles(spark, settings, specs, touched)
    with timed("watermark write and table versions"):
        write_watermarks(spark, cat, STAGE, {FEATURES: version}, previous=marks)
        tables = {
            name: int(table_version(spark, cat, name) or 0)
            for name in (STATES, PROFILE, DRIFT)
            if table_exists(spark, cat, name)
        }
    mode = "full" if touched is None else "incremental"
    metrics = {"days_recomputed": float(result.days), "drift_windows": float(result.drift_windows)}
    metrics.update({f"windows_{k}": float(v) for k, v in result.windows.items()})
    logger.info("stats: %s run over %d days", mode, result.days)
    return StageResult(STAGE, "ok", f"{mode}: {result.days} days recomputed", metrics=metrics, tables=tables)
