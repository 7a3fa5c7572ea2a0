"""Incremental profile run: touched days -> day states -> window states -> metrics -> drift.

Only the day states of touched days are computed from feature rows. Every other window (week,
month, sliding, cumulative, the baseline) is a merge of stored day states, and the profile
metrics and drift results are projections of stored states. Each table is rewritten with
``replaceWhere`` on exactly the windows recomputed, so re-running changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.config.model import Settings
from mlhops.drift import univariate_spark as UD
from mlhops.errors import ConfigError
from mlhops.features.spec import FeatureSpec
from mlhops.io import Catalog, read_table, replace_where, table_exists, write_overwrite
from mlhops.stats import windows as W
from mlhops.stats.profile import BINS_SCHEMA, bins_from_baseline, profile_metrics
from mlhops.stats.states import STATE_SCHEMA, WINDOW_KEYS, compute_states, merge_states

logger = logging.getLogger(__name__)

FEATURES = "mlhops.features"
STATES = "mlhops.profile_states"
PROFILE = "mlhops.profile_metrics"
BINS = "mlhops.profile_bins"
DRIFT = "mlhops.drift_metrics"
BASELINE = "baseline"


@dataclass
class ProfileRun:
    """What one run recomputed (for the stage result)."""

    days: int = 0
    windows: dict[str, int] = field(default_factory=dict)
    baseline_recomputed: bool = False
    drift_windows: int = 0


def _dates(values: Iterable[object]) -> list[dt.date]:
    out = set()
    for v in values:
        if isinstance(v, dt.datetime):
            out.add(v.date())
        elif isinstance(v, dt.date):
            out.add(v)
    return sorted(out)


def _date_list(column: str, days: Sequence[dt.date]) -> str:
    return f"{column} IN ({', '.join(repr(d.isoformat()) for d in days)})" if days else "false"


def _window_predicate(plan: dict[str, list[dt.date]], column: str = "window_start", ts: bool = False) -> str:
    parts = []
    for gran, starts in sorted(plan.items()):
        if not starts:
            continue
        lits = ", ".join(f"{'TIMESTAMP' if ts else 'DATE'}'{s.isoformat()}'" for s in starts)
        parts.append(f"(granularity = '{gran}' AND {column} IN ({lits}))")
    return " OR ".join(parts) if parts else "false"


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
    st = settings.stats
    run = ProfileRun()
    full = touched is None or not table_exists(spark, cat, STATES)
    features = read_table(spark, cat, FEATURES)

    # 1. Day states from feature rows (only touched days).
    if full:
        days_present = _dates(r[0] for r in features.select("event_date").distinct().collect())
        touched = days_present
        day_states = compute_states(features, specs, st)
    else:
        assert touched is not None
        touched = sorted(set(touched))
        day_states = compute_states(features.where(_date_list("event_date", touched)), specs, st)
    run.days = len(touched)
    if not touched and not full:
        return run
    if full:
        write_overwrite(day_states, cat, STATES)
    else:
        replace_where(day_states, cat, STATES, f"granularity = 'day' AND ({_date_list('window_start', touched)})")

    # 2. Window states merged from day states.
    plan: dict[str, list[dt.date]] = {"day": list(touched)}
    states = read_table(spark, cat, STATES)
    days = states.where(F.col("granularity") == "day").drop("granularity", "window_end")
    derived: list[DataFrame] = []
    for gran in st.granularities:
        if gran == "day":
            continue
        wins = W.touched_windows(touched, gran)
        plan[gran] = [s for s, _ in wins]
        windowed = W.tumbling(days, gran)
        if not full:
            windowed = windowed.where(F.col("window_start").isin(plan[gran]))
        derived.append(merge_states(windowed, list(WINDOW_KEYS), st.max_categories))
    for n_days in st.sliding_days:
        name = W.sliding_name(n_days)
        slid = W.sliding(days, n_days)
        if not full:
            ends = sorted({e for d in touched for e in W.sliding_ends(d, n_days)})
            plan[name] = [e - dt.timedelta(days=n_days) for e in ends]
            if not ends:
                continue
            lo, hi = min(plan[name]), max(ends)
            src = days.where((F.col("window_start") >= F.lit(lo)) & (F.col("window_start") < F.lit(hi)))
            slid = W.sliding(src, n_days).where(F.col("window_end").isin(ends))
        else:
            plan[name] = []
        derived.append(merge_states(slid, list(WINDOW_KEYS), st.max_categories))
    cum_pred = "false"
    if st.cumulative:
        stored_cum = None if full else states.where(F.col("granularity") == W.CUMULATIVE)
        cum = _cumulative_states(days, touched, st.cumulative_months, st.max_categories, stored_cum)
        if cum is not None:
            states_df, first_end = cum
            derived.append(states_df)
            cum_pred = f"(granularity = '{W.CUMULATIVE}' AND window_end >= DATE'{first_end.isoformat()}')"
    win_pred = " OR ".join(p for p in (_window_predicate({k: v for k, v in plan.items() if k != "day"}), cum_pred)
                           if p != "false") or "false"
    if derived:
        union = derived[0]
        for d in derived[1:]:
            union = union.unionByName(d)
        union = union.select(*STATE_SCHEMA.fieldNames())
        if full:
            union = union.where(F.col("granularity") != "day")
            replace_where(union, cat, STATES, "granularity != 'day'")
        else:
            replace_where(union, cat, STATES, f"granularity != 'day' AND ({win_pred})")
    run.windows = {k: len(v) for k, v in plan.items()}

    # 3. Baseline state and bins.
    run.baseline_recomputed = _update_baseline(spark, settings, specs, touched, full)

    # 4. Profile metrics of recomputed windows (all of them when the bins moved).
    states = read_table(spark, cat, STATES)
    bins = read_table(spark, cat, BINS) if table_exists(spark, cat, BINS) else None
    all_pred = "true" if (full or run.baseline_recomputed) else (
        f"({_window_predicate({'day': plan['day']})}) OR {win_pred}")
    metrics = profile_metrics(states.where(all_pred), bins, st.quantiles, st.top_k)
    if full or run.baseline_recomputed:
        write_overwrite(metrics, cat, PROFILE)
    else:
        replace_where(metrics, cat, PROFILE, all_pred)

    # 5. Univariate drift.
    if st.drift.enabled:
        run.drift_windows = _update_drift(spark, settings, states, bins, plan, full or run.baseline_recomputed)
    return run


def _cumulative_states(
    days: DataFrame,
    touched: Sequence[dt.date],
    months: int,
    max_categories: int,
    stored: DataFrame | None = None,
) -> tuple[DataFrame, dt.date] | None:
    """Cumulative windows [history start, month end) at the last ``months`` month ends that a
    touched day affects. Everything before the first of those months is one state (``base``):
    the stored cumulative window ending there when it exists for the same history start (a
    nightly run then merges one stored state with the current month's day states, whatever the
    length of the history), else the merge of all earlier day states. Each window is ``base``
    plus the month states up to its end, never a rescan of rows."""
    bounds = days.agg(F.min("window_start"), F.max("window_start")).first()
    if not bounds or bounds[0] is None or not touched:
        return None
    history_start, last_day = bounds[0], bounds[1]
    last_end = W.window_end(W.window_start(last_day, "month"), "month")
    ends = [last_end]
    while len(ends) < months and ends[-1] > history_start:
        ends.append(W.window_start(ends[-1] - dt.timedelta(days=1), "month"))
    ends = sorted(e for e in ends if e > history_start)
    first_touched_end = W.window_end(W.window_start(min(touched), "month"), "month")
    ends = [e for e in ends if e >= first_touched_end]
    if not ends:
        return None
    first_start = W.window_start(ends[0] - dt.timedelta(days=1), "month")
    base = None
    # The stored window is only reusable when no touched (changed) day falls before its end.
    if stored is not None and history_start < first_start <= min(touched):
        previous = stored.where(
            (F.col("window_start") == F.lit(history_start)) & (F.col("window_end") == F.lit(first_start))
        )
        if previous.limit(1).count() > 0:
            logger.info("stats: cumulative windows continue the stored one ending %s", first_start)
            base = previous.withColumn("granularity", F.lit("base")).select(*days.columns, "granularity", "window_end")
    if base is None:
        base = days.where(F.col("window_start") < F.lit(first_start)).withColumns(
            {"granularity": F.lit("base"), "window_start": F.lit(history_start), "window_end": F.lit(first_start)}
        )
    recent = W.tumbling(days.where(F.col("window_start") >= F.lit(first_start)), "month")
    units = merge_states(base.unionByName(recent), list(WINDOW_KEYS), max_categories)
    cum = W.cumulative(units.drop("granularity"), history_start, last_end)
    cum = cum.where(F.col("window_end").isin(ends))
    return merge_states(cum, list(WINDOW_KEYS), max_categories), ends[0]


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
    bins: DataFrame | None,
    plan: dict[str, list[dt.date]],
    everything: bool,
) -> int:
    cat = Catalog(settings.warehouse)
    cfg = settings.stats.drift
    bins = bins if bins is not None else spark.createDataFrame([], BINS_SCHEMA)
    targets: dict[str, list[dt.date]] = {}
    for gran in cfg.granularities:
        if gran not in W.TUMBLING:
            raise ConfigError(f"stats.drift.granularities: {gran!r} is not a tumbling granularity")
        starts = set(plan.get(gran, []))
        # The window after a changed one compares against it ("previous"), so it changes too.
        starts |= {W.window_end(s, gran) for s in starts}
        targets[gran] = sorted(starts)
    current = states.where(F.col("granularity").isin(list(cfg.granularities)))
    if not everything:
        current = current.where(_window_predicate(targets))
    parts: list[DataFrame] = []
    if "baseline" in cfg.references:
        baseline = states.where(F.col("granularity") == BASELINE)
        parts.append(UD.pair_with_baseline(current, baseline, bins))
    if "previous" in cfg.references:
        parts.append(UD.pair_with_previous(current, states, bins))
    if not parts:
        return 0
    pairs = parts[0]
    for p in parts[1:]:
        pairs = pairs.unionByName(p)
    results = UD.test_pairs(pairs, cfg)
    if everything:
        write_overwrite(results, cat, DRIFT)
    else:
        pred = _window_predicate(targets, ts=True)
        if not table_exists(spark, cat, DRIFT):
            write_overwrite(results, cat, DRIFT)
        else:
            replace_where(results.where(pred), cat, DRIFT, pred)
    return sum(len(v) for v in targets.values())
