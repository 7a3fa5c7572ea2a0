"""Incremental profile run: touched days -> day states -> window states -> metrics -> consumers.

Only the day states of touched days are computed from feature rows. Every other window (week,
month, sliding, cumulative, the baseline) is a merge of stored day states, and the profile
metrics and the consumers' results (univariate drift, passed in by the stats stage) are
projections of stored states. Each table is rewritten with ``replaceWhere`` on exactly the
windows recomputed, so re-running changes nothing.

The parts: :mod:`~mlhops.stats.full` (a full recompute), :mod:`~mlhops.stats.nightly` (an
increment, planned by :mod:`~mlhops.stats.increment`), :mod:`~mlhops.stats.baseline` (baseline
state and bins), :mod:`~mlhops.stats.writes` (the window layout of every write).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import SparkSession

from mlhops.config.stages import StatsSettings
from mlhops.features.spec import FeatureSpec
from mlhops.io import Catalog, table_exists
from mlhops.io.tables.monitoring import PROFILE_STATES
from mlhops.stats.consumers import ProfileRun, StatesConsumer
from mlhops.stats.full import full_run
from mlhops.stats.nightly import increment


def update_profiles(
    spark: SparkSession,
    catalog: Catalog,
    stats: StatsSettings,
    specs: Sequence[FeatureSpec],
    touched: Sequence[dt.date] | None,
    drift: StatesConsumer | None = None,
) -> ProfileRun:
    """Bring states, profile metrics and the consumer's results up to date.

    Args:
        spark: the session.
        catalog: table locations.
        stats: the ``stats`` settings.
        specs: features to profile.
        touched: days whose feature rows changed since the last run; None recomputes everything.
        drift: results computed from the new window states (univariate drift); None: none.

    Returns:
        Counts of what was recomputed.
    """
    if touched is None or not table_exists(spark, catalog, PROFILE_STATES):
        return full_run(spark, catalog, stats, specs, drift)
    if not touched:
        return ProfileRun()
    return increment(spark, catalog, stats, specs, sorted(set(touched)), drift)
