"""A full profile run: every state, metric and consumer result recomputed from feature rows.

Day states come from the one pass over the rows; every week, month, sliding and cumulative
window is a merge of day states; the baseline and its bins follow, then the profile metrics and
the consumers' results (univariate drift) of every stored window.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.frames import union_all
from mlhops.config.stages import StatsSettings
from mlhops.features.spec import FeatureSpec
from mlhops.io import Catalog, read_table
from mlhops.io.tables.monitoring import FEATURES, PROFILE_METRICS, PROFILE_STATES, STATE_SCHEMA, WINDOW_KEYS
from mlhops.stats import windows as W
from mlhops.stats.baseline import bin_edges, update_baseline
from mlhops.stats.consumers import ProfileRun, StatesConsumer, StatesUpdate
from mlhops.stats.profile import profile_metrics
from mlhops.stats.states import compute_states, merge_states
from mlhops.stats.timing import timed
from mlhops.stats.writes import overwrite_by_window, replace_by_window


def full_run(
    spark: SparkSession,
    catalog: Catalog,
    stats: StatsSettings,
    specs: Sequence[FeatureSpec],
    drift: StatesConsumer | None,
) -> ProfileRun:
    """Recompute every state, metric and drift result from the feature rows."""
    run = ProfileRun()
    features = read_table(spark, catalog, FEATURES)
    touched = _dates(r[0] for r in features.select("event_date").distinct().collect())
    run.days = len(touched)
    with timed("day states"):
        overwrite_by_window(compute_states(features, specs, stats), catalog, PROFILE_STATES)
    plan = window_plan(touched, stats)
    days = read_table(spark, catalog, PROFILE_STATES).where(F.col("granularity") == "day")
    derived = _window_states(days.drop("granularity", "window_end"), touched, stats)
    if derived is not None:
        with timed("window states"):
            replace_by_window(derived, catalog, PROFILE_STATES, "granularity != 'day'")
    run.windows = {k: len(v) for k, v in plan.items()}
    run.baseline_recomputed = update_baseline(spark, catalog, stats, specs, touched, True)
    run.drift_windows = recompute_all_metrics(spark, catalog, stats, plan, drift)
    return run


def recompute_all_metrics(
    spark: SparkSession,
    catalog: Catalog,
    stats: StatsSettings,
    plan: dict[str, list[dt.date]],
    drift: StatesConsumer | None,
) -> int:
    """Profile metrics and drift of every stored window (after a full run or new bins); returns
    the drift windows written."""
    states = read_table(spark, catalog, PROFILE_STATES)
    edges = bin_edges(spark, catalog)
    with timed("profile metrics"):
        metrics = profile_metrics(states, edges, stats.quantiles, stats.top_k, min_cell=stats.min_cell_size)
        overwrite_by_window(metrics, catalog, PROFILE_METRICS)
    if drift is None:
        return 0
    with timed("drift"):
        return drift.write(StatesUpdate(states, edges, plan, everything=True))


def window_plan(touched: Sequence[dt.date], stats: StatsSettings) -> dict[str, list[dt.date]]:
    """Window starts per granularity of a full run (sliding windows: none listed)."""
    plan: dict[str, list[dt.date]] = {"day": list(touched)}
    for gran in stats.granularities:
        if gran != "day":
            plan[gran] = [s for s, _ in W.touched_windows(touched, gran)]
    for n_days in stats.sliding_days:
        plan[W.sliding_name(n_days)] = []
    return plan


def _dates(values: Iterable[object]) -> list[dt.date]:
    out = set()
    for v in values:
        if isinstance(v, dt.datetime):
            out.add(v.date())
        elif isinstance(v, dt.date):
            out.add(v)
    return sorted(out)


def _window_states(days: DataFrame, touched: Sequence[dt.date], stats: StatsSettings) -> DataFrame | None:
    """States of every tumbling, sliding and cumulative window, merged from the day states."""
    keys = list(WINDOW_KEYS)
    derived = [
        merge_states(W.tumbling(days, gran), keys, stats.max_categories) for gran in stats.granularities if gran != "day"
    ]
    derived += [merge_states(W.sliding(days, n), keys, stats.max_categories) for n in stats.sliding_days]
    if stats.cumulative:
        cum = _cumulative_states(days, touched, stats.cumulative_months, stats.max_categories)
        if cum is not None:
            derived.append(cum)
    if not derived:
        return None
    union = union_all(derived)
    return union.select(*STATE_SCHEMA.fieldNames()).where(F.col("granularity") != "day")


def _cumulative_states(
    days: DataFrame, touched: Sequence[dt.date], months: int, max_categories: int
) -> DataFrame | None:
    """Cumulative windows [history start, month end) at the last ``months`` month ends that a
    touched day affects (a full run: every day). Everything before the first of those months is
    one state (``base``); each window is ``base`` plus the month states up to its end, never a
    rescan of rows. (A nightly run plans these windows in :mod:`mlhops.stats.increment`.)"""
    bounds = days.agg(F.min("window_start"), F.max("window_start")).first()
    if not bounds or bounds[0] is None or not touched:
        return None
    history_start, last_day = bounds[0], bounds[1]
    last_end = W.window_end(W.window_start(last_day, "month"), "month")
    ends = W.cumulative_ends(history_start, last_day, months, min(touched))
    if not ends:
        return None
    first_start = W.window_start(ends[0] - dt.timedelta(days=1), "month")
    base = days.where(F.col("window_start") < F.lit(first_start)).withColumns(
        {"granularity": F.lit("base"), "window_start": F.lit(history_start), "window_end": F.lit(first_start)}
    )
    recent = W.tumbling(days.where(F.col("window_start") >= F.lit(first_start)), "month")
    units = merge_states(base.unionByName(recent), list(WINDOW_KEYS), max_categories)
    cum = W.cumulative(units.drop("granularity"), history_start, last_end)
    cum = cum.where(F.col("window_end").isin(ends))
    return merge_states(cum, list(WINDOW_KEYS), max_categories)

