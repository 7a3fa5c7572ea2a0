"""A nightly profile run: the touched days and the windows holding them.

Planning is in :mod:`mlhops.stats.increment`. Jobs: the new day states with the layout of the
stored states (one collect), then one ``replaceWhere`` commit of every replaced state, one of
their profile metrics and one of the consumers' results (univariate drift), all computed from
the same new states. The day states, the stored states read and the new states are local
checkpoints (materialised once, lineage cut): every later query plans over a few thousand
in-memory rows, not over the Delta scans and merges that made them (a night's planning was most
of its cost). Their blocks are released by Spark's cleaner once the run's DataFrames are gone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from mlhops.concurrency import run_all
from mlhops.config.stages import StatsSettings
from mlhops.features.spec import FeatureSpec
from mlhops.io import Catalog, read_table, replace_where
from mlhops.io.tables.monitoring import FEATURES, PROFILE_METRICS, PROFILE_STATES
from mlhops.stats import increment as I
from mlhops.stats.baseline import baseline_period, bin_edges, update_baseline
from mlhops.stats.consumers import ProfileRun, StatesConsumer, StatesUpdate
from mlhops.stats.full import recompute_all_metrics
from mlhops.stats.profile import profile_metrics
from mlhops.spark import spark_conf
from mlhops.stats.states import compute_states
from mlhops.stats.timing import timed

SHUFFLE_PARTITIONS = "spark.sql.shuffle.partitions"
# Touched days per shuffle partition in an incremental run (a night: one partition).
DAYS_PER_PARTITION = 31


@dataclass(frozen=True)
class NightStates:
    """The checkpointed states of a night: ``new`` (touched days and their windows) and
    ``needed`` (the stored states they were merged from, and those drift reads)."""

    plan: I.IncrementPlan
    new: DataFrame
    needed: DataFrame
    baseline_moves: bool


def increment(
    spark: SparkSession,
    catalog: Catalog,
    stats: StatsSettings,
    specs: Sequence[FeatureSpec],
    touched: list[dt.date],
    drift: StatesConsumer | None,
) -> ProfileRun:
    """Recompute the touched days and their windows; commit states, metrics and drift."""
    run = ProfileRun(days=len(touched))
    with spark_conf(spark, _narrow_shuffle(spark, len(touched))):
        night = _night_states(spark, catalog, stats, specs, touched, drift)
        run.windows = {k: len(v) for k, v in night.plan.windows.items()}
        if not night.baseline_moves:
            _commit(spark, catalog, stats, night, drift, run, states=True)
            return run
        _commit_states(catalog, night)
    # The baseline moved: everything is recomputed from here, at the session's own shuffle width.
    run.baseline_recomputed = update_baseline(spark, catalog, stats, specs, touched, False)
    if run.baseline_recomputed:
        run.drift_windows = recompute_all_metrics(spark, catalog, stats, night.plan.windows, drift)
        return run
    _commit(spark, catalog, stats, night, drift, run, states=False)
    return run


def _narrow_shuffle(spark: SparkSession, n_days: int) -> dict[str, str]:
    """A night's states are a few thousand rows: every extra shuffle partition is only a task to
    schedule (many per merge), so shuffles get one partition per :data:`DAYS_PER_PARTITION` days
    (never more than the session's own)."""
    configured = spark.conf.get(SHUFFLE_PARTITIONS)
    wanted = max(1, -(-n_days // DAYS_PER_PARTITION))
    if configured is not None and configured.isdigit() and wanted < int(configured):
        return {SHUFFLE_PARTITIONS: str(wanted)}
    return {}


def _baseline_moves(stats: StatsSettings, layout: I.StoredLayout, touched: Sequence[dt.date]) -> bool:
    """Whether the baseline may change: a baseline table, or a period that is not stored or
    holds a touched day."""
    period = baseline_period(stats.baseline)
    return stats.baseline.table is not None or (
        period is not None and (period not in layout.baselines or any(period[0] <= d < period[1] for d in touched))
    )


def _night_states(
    spark: SparkSession,
    catalog: Catalog,
    stats: StatsSettings,
    specs: Sequence[FeatureSpec],
    touched: list[dt.date],
    drift: StatesConsumer | None,
) -> NightStates:
    """New day states, the stored states the night needs, and the merged window states."""
    features = read_table(spark, catalog, FEATURES)
    stored = read_table(spark, catalog, PROFILE_STATES)
    with timed("day states and stored layout"):
        day_states = compute_states(features.where(I.in_dates("event_date", touched)), specs, stats)
        day_states = day_states.localCheckpoint(eager=True)
        layout = I.read_layout(stored, day_states, touched)
    plan = I.plan_increment(touched, stats, layout)
    moves = _baseline_moves(stats, layout, touched)
    # Drift compares each recomputed window with others; those may be stored ones.
    reads = drift.reads(plan.windows) if drift is not None and not moves else {}
    needed = stored.where(I.needed_states_predicate(plan, reads)).localCheckpoint(eager=True)
    derived = I.window_states(plan, needed.unionByName(day_states), needed, stats)
    new_states = day_states if derived is None else day_states.unionByName(derived)
    with timed("window states"):
        new_states = new_states.localCheckpoint(eager=True)
    return NightStates(plan, new_states, needed, moves)


def _commit_states(catalog: Catalog, night: NightStates) -> None:
    with timed("states commit"):
        replace_where(night.new, catalog, PROFILE_STATES, night.plan.states_predicate)


def _commit(
    spark: SparkSession,
    catalog: Catalog,
    stats: StatsSettings,
    night: NightStates,
    drift: StatesConsumer | None,
    run: ProfileRun,
    *,
    states: bool,
) -> None:
    """The night's commits (states unless already committed, metrics, drift): they read only
    the checkpointed states, so they run side by side (``stats.concurrent_commits``)."""
    edges = bin_edges(spark, catalog)

    def commit_metrics() -> None:
        with timed("profile metrics"):
            metrics = profile_metrics(night.new, edges, stats.quantiles, stats.top_k,
                                      min_cell=stats.min_cell_size)
            replace_where(metrics, catalog, PROFILE_METRICS, night.plan.states_predicate)

    def commit_drift() -> None:
        assert drift is not None
        windows = {} if night.baseline_moves else night.plan.windows
        with timed("drift"):
            run.drift_windows = drift.write(
                StatesUpdate(night.new.unionByName(night.needed), edges, windows, everything=False)
            )

    commits: list[Callable[[], None]] = [lambda: _commit_states(catalog, night)] if states else []
    commits.append(commit_metrics)
    if drift is not None:
        commits.append(commit_drift)
    run_all(commits, stats.concurrent_commits, "stats-commit")
