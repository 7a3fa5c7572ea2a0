"""The baseline state (``granularity = 'baseline'``) drift compares with, and its histogram bins.

The baseline is either a configured table of feature rows (``stats.baseline.table``) or the
merge of the stored day states of a configured period (``stats.baseline.start``/``end``). Its
numeric features' quantiles give the histogram bin edges of every window
(``mlhops.profile_bins``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.config.stages import BaselineSettings, StatsSettings
from mlhops.errors import ConfigError
from mlhops.features.spec import FeatureSpec
from mlhops.io import Catalog, read_table, replace_where, table_exists, write_overwrite
from mlhops.io.tables.monitoring import BINS_SCHEMA, PROFILE_BINS, PROFILE_STATES, STATE_SCHEMA
from mlhops.stats.profile import bins_from_baseline, edges_by_feature
from mlhops.stats.states import compute_states, merge_states

logger = logging.getLogger(__name__)

BASELINE = "baseline"
_WINDOW = ["granularity", "window_start", "window_end"]


def baseline_period(baseline: BaselineSettings) -> tuple[dt.date, dt.date] | None:
    """The configured baseline period ``[start, end)``; None with a baseline table or no period.

    Raises:
        ConfigError: dates that are not ISO dates, or an end not after the start.
    """
    if baseline.table:
        return None
    if not baseline.start or not baseline.end:
        return None
    try:
        start, end = dt.date.fromisoformat(baseline.start), dt.date.fromisoformat(baseline.end)
    except ValueError:
        raise ConfigError("stats.baseline.start/end must be ISO dates (YYYY-MM-DD)") from None
    if end <= start:
        raise ConfigError("stats.baseline.end must be after stats.baseline.start")
    return start, end


def bin_edges(spark: SparkSession, catalog: Catalog) -> dict[str, list[float]]:
    """The stored histogram edges per numeric feature (none before a baseline exists)."""
    if not table_exists(spark, catalog, PROFILE_BINS):
        return {}
    return edges_by_feature(read_table(spark, catalog, PROFILE_BINS))


def update_baseline(
    spark: SparkSession,
    catalog: Catalog,
    stats: StatsSettings,
    specs: Sequence[FeatureSpec],
    touched: Sequence[dt.date],
    full: bool,
) -> bool:
    """Recompute the baseline state and its bins when they may have changed.

    Args:
        spark: the session.
        catalog: table locations.
        stats: the ``stats`` settings (baseline, sketch sizes, bins).
        specs: the profiled features (a baseline table is profiled from rows).
        touched: days recomputed by this run.
        full: a full run (the baseline is always recomputed).

    Returns:
        Whether the baseline state and bins were rewritten.
    """
    source = _baseline_source(spark, catalog, stats, specs, touched, full)
    if source is None:
        return False
    states, start, end = source
    _write_baseline(spark, catalog, stats, states, start, end)
    return True


def _baseline_source(
    spark: SparkSession,
    catalog: Catalog,
    stats: StatsSettings,
    specs: Sequence[FeatureSpec],
    touched: Sequence[dt.date],
    full: bool,
) -> tuple[DataFrame, dt.date, dt.date] | None:
    """States to merge into the baseline and its ``[start, end)``; None when it stays as stored."""
    if stats.baseline.table:
        rows = read_table(spark, catalog, stats.baseline.table)
        states = compute_states(rows, specs, stats).drop(*_WINDOW)
        bounds = rows.agg(F.min("event_date"), F.max("event_date")).first()
        return states, bounds[0], bounds[1] + dt.timedelta(days=1)
    period = baseline_period(stats.baseline)
    if period is None:
        logger.warning("stats: no baseline configured (stats.baseline); drift vs baseline is skipped")
        return None
    start, end = period
    if not full and not any(start <= d < end for d in touched) and _stored(spark, catalog, start, end):
        return None
    days = read_table(spark, catalog, PROFILE_STATES).where(
        (F.col("granularity") == "day") & (F.col("window_start") >= F.lit(start)) & (F.col("window_start") < F.lit(end))
    )
    return days.drop(*_WINDOW), start, end


def _stored(spark: SparkSession, catalog: Catalog, start: dt.date, end: dt.date) -> bool:
    """Whether the stored baseline state covers ``[start, end)``."""
    stored = read_table(spark, catalog, PROFILE_STATES).where(F.col("granularity") == BASELINE)
    same = stored.where((F.col("window_start") == F.lit(start)) & (F.col("window_end") == F.lit(end))).limit(1)
    return same.count() > 0


def _write_baseline(
    spark: SparkSession, catalog: Catalog, stats: StatsSettings, states: DataFrame, start: dt.date, end: dt.date
) -> None:
    """Merge ``states`` into the baseline state, store it and the bins read from it."""
    tagged = states.withColumns({"granularity": F.lit(BASELINE), "window_start": F.lit(start), "window_end": F.lit(end)})
    baseline = merge_states(tagged, _WINDOW, stats.max_categories)
    replace_where(baseline.select(*STATE_SCHEMA.fieldNames()), catalog, PROFILE_STATES, f"granularity = '{BASELINE}'")
    stored = read_table(spark, catalog, PROFILE_STATES).where(F.col("granularity") == BASELINE)
    bins = bins_from_baseline(stored, stats.histogram_bins)
    write_overwrite(spark.createDataFrame(bins.collect(), BINS_SCHEMA), catalog, PROFILE_BINS)
