"""The nightly increment of the profile states: plan on the driver, one merge, one commit.

A nightly run touches a handful of days. Everything it must rewrite is known on the driver
from the touched days and a few facts about the stored states (history bounds, which
cumulative and baseline windows exist), read in one small job. The stored states the new
windows need (the other days of the touched weeks, months and sliding windows, the stored
cumulative window they continue, the baseline, the neighbours drift compares with) are read
once, checkpointed, and merged with the new day states in one ``merge_states``; the result is
written to ``mlhops.profile_states`` in one ``replaceWhere`` commit and is itself what the
profile metrics and drift tests are computed from (no re-read of the table just written).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mlhops.config.stages import StatsSettings
from mlhops.io.tables.monitoring import SLICE_KEYS, STATE_SCHEMA, STATE_VALUE_FIELDS, WINDOW_KEYS
from mlhops.stats import windows as W
from mlhops.stats.baseline import BASELINE
from mlhops.stats.states import merge_states

_UNIT_COLUMNS = [*WINDOW_KEYS, *SLICE_KEYS, *[f.name for f in STATE_VALUE_FIELDS]]


def date_lit(d: dt.date) -> str:
    return f"DATE'{d.isoformat()}'"


def in_dates(column: str, days: Iterable[dt.date]) -> str:
    """SQL ``column IN (DATE'..', ...)``; ``false`` for no dates."""
    days = sorted(set(days))
    return f"{column} IN ({', '.join(date_lit(d) for d in days)})" if days else "false"


def windows_predicate(plan: dict[str, list[dt.date]], column: str = "window_start", ts: bool = False) -> str:
    """SQL predicate selecting the windows ``{granularity: [start, ...]}``; ``false`` when empty."""
    parts = []
    for gran, starts in sorted(plan.items()):
        if not starts:
            continue
        lits = ", ".join(f"{'TIMESTAMP' if ts else 'DATE'}'{s.isoformat()}'" for s in sorted(set(starts)))
        parts.append(f"(granularity = '{gran}' AND {column} IN ({lits}))")
    return " OR ".join(parts) if parts else "false"


def _merge_ranges(ranges: Iterable[tuple[dt.date, dt.date]]) -> list[tuple[dt.date, dt.date]]:
    out: list[tuple[dt.date, dt.date]] = []
    for lo, hi in sorted(r for r in ranges if r[0] < r[1]):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


@dataclass(frozen=True)
class StoredLayout:
    """Facts about the stored states that planning needs, all from one small job.

    ``first_day``/``last_day`` span the stored day states outside the touched days together
    with the new day states; ``new_days`` are the touched days that have rows now;
    ``cumulative``/``baselines`` are the ``(start, end)`` of the stored windows of those kinds.
    """

    first_day: dt.date | None
    last_day: dt.date | None
    new_days: frozenset[dt.date]
    cumulative: frozenset[tuple[dt.date, dt.date]]
    baselines: frozenset[tuple[dt.date, dt.date]]


def read_layout(stored: DataFrame, day_states: DataFrame, touched: Sequence[dt.date]) -> StoredLayout:
    """One job over the window-key columns of the stored states and the new day states."""
    others = stored.where((F.col("granularity") == "day") & ~F.expr(in_dates("window_start", touched)))
    bounds = others.select(F.lit("bounds").alias("k"), F.min("window_start").alias("a"), F.max("window_start").alias("b"))
    keys = (
        stored.where(F.col("granularity").isin(W.CUMULATIVE, BASELINE))
        .select(F.col("granularity").alias("k"), F.col("window_start").alias("a"), F.col("window_end").alias("b"))
        .distinct()
    )
    new = day_states.select(F.lit("new").alias("k"), F.col("window_start").alias("a"), F.col("window_start").alias("b"))
    rows = bounds.unionByName(keys).unionByName(new.distinct()).collect()
    new_days = frozenset(r["a"] for r in rows if r["k"] == "new")
    lo = [r["a"] for r in rows if r["k"] == "bounds" and r["a"] is not None] + list(new_days)
    hi = [r["b"] for r in rows if r["k"] == "bounds" and r["b"] is not None] + list(new_days)
    return StoredLayout(
        first_day=min(lo) if lo else None,
        last_day=max(hi) if hi else None,
        new_days=new_days,
        cumulative=frozenset((r["a"], r["b"]) for r in rows if r["k"] == W.CUMULATIVE),
        baselines=frozenset((r["a"], r["b"]) for r in rows if r["k"] == BASELINE),
    )


@dataclass(frozen=True)
class CumulativePlan:
    """Cumulative windows ``[history_start, end)`` to recompute: each is ``base`` (everything
    before ``first_start``) plus the day states from ``first_start`` to its end. ``reuse_base``:
    the stored cumulative window ``[history_start, first_start)`` is that base."""

    history_start: dt.date
    ends: tuple[dt.date, ...]
    first_start: dt.date
    reuse_base: bool

    @property
    def predicate(self) -> str:
        """Stored cumulative windows this run replaces (also those past a shrunken history)."""
        return f"(granularity = '{W.CUMULATIVE}' AND window_end >= {date_lit(self.ends[0])})"


@dataclass
class IncrementPlan:
    """Which windows a run recomputes, and which stored states it needs to do so."""

    touched: list[dt.date]
    windows: dict[str, list[dt.date]] = field(default_factory=dict)  # granularity -> starts (day: touched)
    sliding_ends: dict[str, list[dt.date]] = field(default_factory=dict)
    cumulative: CumulativePlan | None = None
    day_ranges: list[tuple[dt.date, dt.date]] = field(default_factory=list)

    @property
    def states_predicate(self) -> str:
        """Every stored state this run replaces (the touched days and their windows)."""
        parts = [windows_predicate(self.windows)]
        if self.cumulative is not None:
            parts.append(self.cumulative.predicate)
        return " OR ".join(p for p in parts if p != "false") or "false"


def plan_increment(touched: Sequence[dt.date], stats: StatsSettings, layout: StoredLayout) -> IncrementPlan:
    """The windows holding the touched days, and the stored day ranges they are merged from.

    Same windows as :func:`mlhops.stats.full.full_run` computes on a full run: tumbling windows of the
    touched days, the sliding windows (ending on Mondays) holding them, and the cumulative
    windows at the last ``cumulative_months`` month ends from the first touched month on.
    """
    touched = sorted(set(touched))
    plan = IncrementPlan(touched=touched)
    plan.windows["day"] = list(touched)
    ranges: list[tuple[dt.date, dt.date]] = []
    for gran in stats.granularities:
        if gran == "day":
            continue
        wins = W.touched_windows(touched, gran)
        plan.windows[gran] = [s for s, _ in wins]
        ranges += wins
    for n_days in stats.sliding_days:
        name = W.sliding_name(n_days)
        ends = sorted({e for d in touched for e in W.sliding_ends(d, n_days)})
        plan.windows[name] = [e - dt.timedelta(days=n_days) for e in ends]
        plan.sliding_ends[name] = ends
        ranges += [(e - dt.timedelta(days=n_days), e) for e in ends]
    if stats.cumulative and layout.first_day is not None and layout.last_day is not None:
        history_start = layout.first_day
        ends = W.cumulative_ends(history_start, layout.last_day, stats.cumulative_months, min(touched))
        if ends:
            first_start = W.window_start(ends[0] - dt.timedelta(days=1), "month")
            # The stored window is only reusable when no touched (changed) day falls before its end.
            reuse = (
                history_start < first_start <= min(touched)
                and (history_start, first_start) in layout.cumulative
            )
            plan.cumulative = CumulativePlan(history_start, tuple(ends), first_start, reuse)
            ranges.append((first_start if reuse else history_start, ends[-1]))
    plan.day_ranges = _merge_ranges(ranges)
    return plan


def needed_states_predicate(plan: IncrementPlan, extra: dict[str, list[dt.date]] | None = None) -> str:
    """Stored states the recomputed windows (and drift, ``extra`` windows) are made from: the
    untouched days of their ranges, the stored cumulative window continued, the baseline."""
    day_parts = " OR ".join(
        f"(window_start >= {date_lit(lo)} AND window_start < {date_lit(hi)})" for lo, hi in plan.day_ranges
    )
    parts = []
    if day_parts:
        parts.append(f"(granularity = 'day' AND NOT {in_dates('window_start', plan.touched)} AND ({day_parts}))")
    c = plan.cumulative
    if c is not None and c.reuse_base:
        parts.append(
            f"(granularity = '{W.CUMULATIVE}' AND window_start = {date_lit(c.history_start)}"
            f" AND window_end = {date_lit(c.first_start)})"
        )
    parts.append(f"granularity = '{BASELINE}'")
    if extra:
        recomputed = {g: set(s) for g, s in plan.windows.items()}
        others = {g: [s for s in starts if s not in recomputed.get(g, set())] for g, starts in extra.items()}
        pred = windows_predicate(others)
        if pred != "false":
            parts.append(f"({pred})")
    return " OR ".join(parts)


def _units(days: DataFrame, gran: str, start: Column, end: Column) -> DataFrame:
    """Day states (``window_start`` = the day) tagged with the window they merge into."""
    return days.withColumns({"granularity": F.lit(gran), "window_start": start, "window_end": end}).select(
        *_UNIT_COLUMNS
    )


def window_states(plan: IncrementPlan, days: DataFrame, stored: DataFrame, stats: StatsSettings) -> DataFrame | None:
    """The recomputed windows' states, in one merge.

    Args:
        plan: from :func:`plan_increment`.
        days: every day state the windows need (stored untouched days and new day states),
            with :data:`STATE_SCHEMA` columns.
        stored: the stored states read with :func:`needed_states_predicate` (for the
            cumulative window continued).
        stats: window settings.

    Returns:
        States of every recomputed week/month/sliding/cumulative window (:data:`STATE_SCHEMA`),
        or None when there are none.
    """
    days = days.where(F.col("granularity") == "day")
    units: list[DataFrame] = []
    for gran in stats.granularities:
        if gran == "day" or not plan.windows.get(gran):
            continue
        t = W.tumbling(days.drop("granularity", "window_end"), gran)
        units.append(t.where(F.col("window_start").isin(plan.windows[gran])).select(*_UNIT_COLUMNS))
    for n_days in stats.sliding_days:
        name = W.sliding_name(n_days)
        ends = plan.sliding_ends.get(name, [])
        if not ends:
            continue
        lo = min(ends) - dt.timedelta(days=n_days)
        src = days.where((F.col("window_start") >= F.lit(lo)) & (F.col("window_start") < F.lit(max(ends))))
        slid = W.sliding(src.drop("granularity", "window_end"), n_days)
        units.append(slid.where(F.col("window_end").isin(ends)).select(*_UNIT_COLUMNS))
    c = plan.cumulative
    if c is not None:
        ends = F.array(*[F.lit(e) for e in c.ends])
        if c.reuse_base:
            base = stored.where(
                (F.col("granularity") == W.CUMULATIVE)
                & (F.col("window_start") == F.lit(c.history_start))
                & (F.col("window_end") == F.lit(c.first_start))
            )
        else:
            base = days.where(F.col("window_start") < F.lit(c.first_start))
        recent = days.where((F.col("window_start") >= F.lit(c.first_start)) & (F.col("window_start") < F.lit(c.ends[-1])))
        # Each state belongs to every recomputed cumulative window ending after its own day.
        spread = base.withColumn("_end", F.explode(ends)).unionByName(
            recent.withColumn("_end", F.explode(F.filter(ends, lambda e: e > F.col("window_start"))))
        )
        units.append(_units(spread, W.CUMULATIVE, F.lit(c.history_start), F.col("_end")))
    if not units:
        return None
    union = units[0]
    for u in units[1:]:
        union = union.unionByName(u)
    return merge_states(union, list(WINDOW_KEYS), stats.max_categories).select(*STATE_SCHEMA.fieldNames())
