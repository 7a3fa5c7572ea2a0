"""Incremental profile run: touched days -> day states -> window states -> metrics -> drift.

Only the day states of touched days are computed from feature rows. Every other window (week,
month, sliding, cumulative, the baseline) is a merge of stored day states, and the profile
metrics and drift results are projections of stored states. Each table is rewritten with
``replaceWhere`` on exactly the windows recomputed, so re-running changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.concurrency import run_all
from mlhops.config.model import Settings
from mlhops.config.stages import StatsSettings
from mlhops.drift import univariate_spark as UD
from mlhops.errors import ConfigError
from mlhops.features.spec import FeatureSpec
from mlhops.io import Catalog, read_table, replace_where, table_exists, write_overwrite
from mlhops.stats import increment as I
from mlhops.stats import windows as W
from mlhops.stats.profile import BINS_SCHEMA, bins_from_baseline, edges_by_feature, profile_metrics
from mlhops.stats.states import STATE_SCHEMA, WINDOW_KEYS, compute_states, merge_states

logger = logging.getLogger(__name__)

FEATURES = "mlhops.features"
STATES = "mlhops.profile_states"
PROFILE = "mlhops.profile_metrics"
BINS = "mlhops.profile_bins"
DRIFT = "mlhops.drift_metrics"
BASELINE = "baseline"
SHUFFLE_PARTITIONS = "spark.sql.shuffle.partitions"
# Touched days per shuffle partition in an incremental run (a night: one partition).
DAYS_PER_PARTITION = 31
# Rows per file of a full run's writes, which are sorted by window (see :func:`_by_window`).
ROWS_PER_FILE = 1024
MAX_RECORDS_PER_FILE = "spark.sql.files.maxRecordsPerFile"
# Drift target windows up to which an increment's tests run on the driver (a night: about 4).
DRIVER_DRIFT_WINDOWS = 16


@dataclass
class ProfileRun:
    """What one run recomputed (for the stage result)."""

    days: int = 0
    windows: dict[str, int] = field(default_factory=dict)
    baseline_recomputed: bool = False
    drift_windows: int = 0


@contextmanager
def timed(phase: str) -> Iterator[None]:
    """Log how long one phase of a run took (``scripts/bench_stats.py`` reads these lines)."""
    t0 = time.perf_counter()
    yield
    logger.info("stats: %s took %.2f s", phase, time.perf_counter() - t0)


def _by_window(df: DataFrame) -> DataFrame:
    """Rows sorted by window within each task; written under :func:`_window_files`, every file
    holds a narrow run of windows, so the min/max statistics Delta keeps per file let a nightly
    ``replaceWhere`` on a few windows rewrite a few small files instead of every large one."""
    return df.sortWithinPartitions("granularity", "window_start")


@contextmanager
def _window_files(spark: SparkSession) -> Iterator[None]:
    """Files of at most :data:`ROWS_PER_FILE` rows for the writes inside (restored after)."""
    configured = spark.conf.get(MAX_RECORDS_PER_FILE, None)
    spark.conf.set(MAX_RECORDS_PER_FILE, str(ROWS_PER_FILE))
    try:
        yield
    finally:
        if configured is None:
            spark.conf.unset(MAX_RECORDS_PER_FILE)
        else:
            spark.conf.set(MAX_RECORDS_PER_FILE, configured)


def _dates(values: Iterable[object]) -> list[dt.date]:
    out = set()
    for v in values:
        if isinstance(v, dt.datetime):
            out.add(v.date())
        elif isinstance(v, dt.date):
            out.add(v)
    return sorted(out)


def _baseline_period(settings: Settings) -> tuple[dt.date, dt.date] | None:
    b = settings.stats.baseline
    if b.table:
        return None
    if not b.start or not b.end:
        return None
    try:
        start, end = dt.date.fromisoformat(b.start), dt.date.fromisoformat(b.end)
    except ValueError:
        raise ConfigError("stats.baseline.start/end must be ISO dates (YYYY-MM-DD)") from None
    if end <= start:
        raise ConfigError("stats.baseline.end must be after stats.baseline.start")
    return start, end


def update_profiles(
    spark: SparkSession,
    settings: Settings,
    specs: Sequence[FeatureSpec],
    touched: Sequence[dt.date] | None,
) -> ProfileRun:
    """Bring states, profile metrics and drift metrics up to date.

    Args:
        spark: the session.
        settings: validated settings (``stats`` section used).
        specs: features to profile.
        touched: days whose feature rows changed since the last run; None recomputes everything.

    Returns:
        Counts of what was recomputed.
    """
    cat = Catalog(settings.warehouse)
    full = touched is None or not table_exists(spark, cat, STATES)
    if not full:
        assert touched is not None
        if not touched:
            return ProfileRun()
        return _increment(spark, settings, specs, sorted(set(touched)))
    return _full_run(spark, settings, specs)


def _full_run(spark: SparkSession, settings: Settings, specs: Sequence[FeatureSpec]) -> ProfileRun:
    """Every state, metric and drift result recomputed from the feature rows."""
    cat = Catalog(settings.warehouse)
    st = settings.stats
    run = ProfileRun()
    features = read_table(spark, cat, FEATURES)

    # 1. Day states from feature rows.
    touched = _dates(r[0] for r in features.select("event_date").distinct().collect())
    run.days = len(touched)
    with timed("day states"), _window_files(spark):
        write_overwrite(_by_window(compute_states(features, specs, st)), cat, STATES)

    # 2. Window states merged from day states.
    plan: dict[str, list[dt.date]] = {"day": list(touched)}
    states = read_table(spark, cat, STATES)
    days = states.where(F.col("granularity") == "day").drop("granularity", "window_end")
    derived: list[DataFrame] = []
    for gran in st.granularities:
        if gran == "day":
            continue
        plan[gran] = [s for s, _ in W.touched_windows(touched, gran)]
        derived.append(merge_states(W.tumbling(days, gran), list(WINDOW_KEYS), st.max_categories))
    for n_days in st.sliding_days:
        plan[W.sliding_name(n_days)] = []
        derived.append(merge_states(W.sliding(days, n_days), list(WINDOW_KEYS), st.max_categories))
    if st.cumulative:
        cum = _cumulative_states(days, touched, st.cumulative_months, st.max_categories)
        if cum is not None:
            derived.append(cum)
    if derived:
        union = derived[0]
        for d in derived[1:]:
            union = union.unionByName(d)
        union = union.select(*STATE_SCHEMA.fieldNames()).where(F.col("granularity") != "day")
        with timed("window states"), _window_files(spark):
            replace_where(_by_window(union), cat, STATES, "granularity != 'day'")
    run.windows = {k: len(v) for k, v in plan.items()}

    # 3. Baseline state and bins.
    run.baseline_recomputed = _update_baseline(spark, settings, specs, touched, True)

    # 4. Profile metrics and univariate drift of every window.
    run.drift_windows = _recompute_all_metrics(spark, settings, plan)
    return run


def _recompute_all_metrics(spark: SparkSession, settings: Settings, plan: dict[str, list[dt.date]]) -> int:
    """Profile metrics and drift of every stored window (after a full run or new bins)."""
    cat = Catalog(settings.warehouse)
    st = settings.stats
    states = read_table(spark, cat, STATES)
    edges = _bin_edges(spark, cat)
    with timed("profile metrics"), _window_files(spark):
        write_overwrite(_by_window(profile_metrics(states, edges, st.quantiles, st.top_k)), cat, PROFILE)
    if not st.drift.enabled:
        return 0
    with timed("drift"):
        return _update_drift(spark, settings, states, edges, plan, True)


def _increment(
    spark: SparkSession, settings: Settings, specs: Sequence[FeatureSpec], touched: list[dt.date]
) -> ProfileRun:
    """A nightly run: the touched days and the windows holding them (:mod:`mlhops.stats.increment`).

    Jobs: the new day states with the layout of the stored states (one collect), then one
    ``replaceWhere`` commit of every replaced state, one of their profile metrics and one of
    their drift results, all computed from the same new states. The day states, the stored
    states read and the new states are local checkpoints (materialised once, lineage cut): every
    later query plans over a few thousand in-memory rows, not over the Delta scans and merges that
    made them (a night's planning was most of its cost). Their blocks are released by Spark's
    cleaner once the run's DataFrames are gone.
    """
    cat = Catalog(settings.warehouse)
    st = settings.stats
    run = ProfileRun(days=len(touched))
    features = read_table(spark, cat, FEATURES)
    stored = read_table(spark, cat, STATES)
    configured = spark.conf.get(SHUFFLE_PARTITIONS)
    # A night's states are a few thousand rows: every extra shuffle partition is only a task
    # to schedule (many per merge), so shuffles get one partition per DAYS_PER_PARTITION days.
    wanted = max(1, -(-len(touched) // DAYS_PER_PARTITION))
    if configured is not None and configured.isdigit() and wanted < int(configured):
        spark.conf.set(SHUFFLE_PARTITIONS, str(wanted))
    try:
        with timed("day states and stored layout"):
            day_states = compute_states(features.where(I.in_dates("event_date", touched)), specs, st)
            day_states = day_states.localCheckpoint(eager=True)
            layout = I.read_layout(stored, day_states, touched)
        plan = I.plan_increment(touched, st, layout)
        period = _baseline_period(settings)
        baseline_moves = st.baseline.table is not None or (
            period is not None
            and (period not in layout.baselines or any(period[0] <= d < period[1] for d in touched))
        )
        targets = _drift_targets(plan.windows, st) if st.drift.enabled and not baseline_moves else {}
        # Drift compares each target with the window before it; those may be stored ones.
        neighbours = {g: sorted({*starts, *(W.previous_start(s, g) for s in starts)}) for g, starts in targets.items()}
        needed = stored.where(I.needed_states_predicate(plan, neighbours)).localCheckpoint(eager=True)
        derived = I.window_states(plan, needed.unionByName(day_states), needed, st)
        new_states = day_states if derived is None else day_states.unionByName(derived)
        with timed("window states"):
            new_states = new_states.localCheckpoint(eager=True)
        run.windows = {k: len(v) for k, v in plan.windows.items()}

        def commit_states() -> None:
            with timed("states commit"):
                replace_where(new_states, cat, STATES, plan.states_predicate)

        if baseline_moves:
            commit_states()
            # Everything is recomputed from here: the session's own shuffle width again.
            if configured is not None:
                spark.conf.set(SHUFFLE_PARTITIONS, configured)
            run.baseline_recomputed = _update_baseline(spark, settings, specs, touched, False)
            if run.baseline_recomputed:
                run.drift_windows = _recompute_all_metrics(spark, settings, plan.windows)
                return run

        edges = _bin_edges(spark, cat)

        def commit_metrics() -> None:
            with timed("profile metrics"):
                metrics = profile_metrics(new_states, edges, st.quantiles, st.top_k)
                replace_where(metrics, cat, PROFILE, plan.states_predicate)

        def commit_drift() -> None:
            with timed("drift"):
                run.drift_windows = _write_drift(
                    spark, settings, new_states.unionByName(needed), edges, targets, everything=False
                )

        # All three read only the checkpointed states, so they are independent commits.
        commits: list[Callable[[], None]] = [] if baseline_moves else [commit_states]
        commits.append(commit_metrics)
        if st.drift.enabled:
            commits.append(commit_drift)
        run_all(commits, st.concurrent_commits, "stats-commit")
        return run
    finally:
        if configured is not None:
            spark.conf.set(SHUFFLE_PARTITIONS, configured)


def _drift_targets(plan: dict[str, list[dt.date]], st: StatsSettings) -> dict[str, list[dt.date]]:
    """Windows whose drift results change: the recomputed ones and the window after each (it
    compares against the changed one as "previous")."""
    targets: dict[str, list[dt.date]] = {}
    for gran in st.drift.granularities:
        if gran not in W.TUMBLING:
            raise ConfigError(f"stats.drift.granularities: {gran!r} is not a tumbling granularity")
        starts = set(plan.get(gran, []))
        starts |= {W.window_end(s, gran) for s in starts}
        targets[gran] = sorted(starts)
    return targets


def _bin_edges(spark: SparkSession, cat: Catalog) -> dict[str, list[float]]:
    """The stored histogram edges per numeric feature (none before a baseline exists)."""
    return edges_by_feature(read_table(spark, cat, BINS)) if table_exists(spark, cat, BINS) else {}


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


def _update_baseline(
    spark: SparkSession, settings: Settings, specs: Sequence[FeatureSpec], touched: Sequence[dt.date], full: bool
) -> bool:
    cat = Catalog(settings.warehouse)
    st = settings.stats
    period = _baseline_period(settings)
    if st.baseline.table:
        ref_rows = read_table(spark, cat, st.baseline.table)
        src = compute_states(ref_rows, specs, st).drop("granularity", "window_start", "window_end")
        bounds = ref_rows.agg(F.min("event_date"), F.max("event_date")).first()
        start, end = bounds[0], bounds[1] + dt.timedelta(days=1)
    elif period is not None:
        start, end = period
        stored = read_table(spark, cat, STATES).where(F.col("granularity") == BASELINE)
        same = stored.where((F.col("window_start") == F.lit(start)) & (F.col("window_end") == F.lit(end))).limit(1)
        if not full and not any(start <= d < end for d in touched) and same.count() > 0:
            return False
        src = (
            read_table(spark, cat, STATES)
            .where((F.col("granularity") == "day") & (F.col("window_start") >= F.lit(start))
                   & (F.col("window_start") < F.lit(end)))
            .drop("granularity", "window_start", "window_end")
        )
    else:
        logger.warning("stats: no baseline configured (stats.baseline); drift vs baseline is skipped")
        return False
    tagged = src.withColumns(
        {"granularity": F.lit(BASELINE), "window_start": F.lit(start), "window_end": F.lit(end)}
    )
    baseline = merge_states(tagged, ["granularity", "window_start", "window_end"], st.max_categories)
    replace_where(baseline.select(*STATE_SCHEMA.fieldNames()), cat, STATES, f"granularity = '{BASELINE}'")
    stored = read_table(spark, cat, STATES).where(F.col("granularity") == BASELINE)
    bins = bins_from_baseline(stored, st.histogram_bins)
    write_overwrite(spark.createDataFrame(bins.collect(), BINS_SCHEMA), cat, BINS)
    return True


def _update_drift(
    spark: SparkSession,
    settings: Settings,
    states: DataFrame,
    edges: Mapping[str, Sequence[float]],
    plan: dict[str, list[dt.date]],
    everything: bool,
) -> int:
    return _write_drift(spark, settings, states, edges, _drift_targets(plan, settings.stats), everything)


def _write_drift(
    spark: SparkSession,
    settings: Settings,
    states: DataFrame,
    edges: Mapping[str, Sequence[float]],
    targets: dict[str, list[dt.date]],
    everything: bool,
) -> int:
    """Drift results of the ``targets`` windows (every window when ``everything``); ``states``
    must hold them, their previous windows and the baseline."""
    cat = Catalog(settings.warehouse)
    cfg = settings.stats.drift
    if not cfg.references:
        return 0
    bins = spark.createDataFrame(sorted(edges.items()), BINS_SCHEMA)
    current = states.where(F.col("granularity").isin(list(cfg.granularities)))
    if not everything:
        current = current.where(I.windows_predicate(targets))
    parts: list[DataFrame] = []
    if "baseline" in cfg.references:
        parts.append(UD.pair_with_baseline(current, states.where(F.col("granularity") == BASELINE), bins))
    if "previous" in cfg.references:
        parts.append(UD.pair_with_previous(current, states, bins))
    pairs = parts[0]
    for p in parts[1:]:
        pairs = pairs.unionByName(p)
    # A night's few windows are tested on the driver; a backfill's many on the executors.
    on_driver = not everything and sum(len(v) for v in targets.values()) <= DRIVER_DRIFT_WINDOWS
    results = UD.test_pairs_on_driver(pairs, cfg) if on_driver else UD.test_pairs(pairs, cfg)
    if everything:
        with _window_files(spark):
            write_overwrite(_by_window(results), cat, DRIFT)
    else:
        pred = I.windows_predicate(targets, ts=True)
        if not table_exists(spark, cat, DRIFT):
            write_overwrite(results, cat, DRIFT)
        else:
            replace_where(results.where(pred), cat, DRIFT, pred)
    return sum(len(v) for v in targets.values())
