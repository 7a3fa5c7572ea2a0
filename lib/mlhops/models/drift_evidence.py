"""What the drift detectors found, as the model lifecycle reads it (triggers, label requests).

The univariate (``mlhops.drift_metrics``) and multivariate (``mlhops.multivariate_drift``)
detectors write one :class:`~mlhops.drift.result.DriftResult` row per detector, feature (set),
window, slice and reference. The lifecycle reads their *flags* on the whole population:

- a **hit** is a flagged result (``status = ok``, ``drift``) whose effect size is at least a
  configured minimum (univariate results; multivariate detectors have no effect size, their
  test is the flag);
- a **persistent shift** is a run of at least ``k`` hits of one series (detector, feature,
  granularity, reference) in adjacent windows (each window starts where the previous ended),
  as in the MLHOps paper: retrain or recalibrate only when a statistically significant,
  large-enough shift persists.

Model windows (scoring) and drift windows (statistics) need not share a grid: a drift window
belongs to every model window it overlaps. Only aggregates are read (statistics, effect sizes,
p-values), never patient values.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mlhops.io import Catalog, read_table, table_exists
from mlhops.io.tables.monitoring import DRIFT_METRICS, MULTIVARIATE_DRIFT

UNIVARIATE, MULTIVARIATE = "univariate", "multivariate"
SOURCE_TABLES = {UNIVARIATE: DRIFT_METRICS, MULTIVARIATE: MULTIVARIATE_DRIFT}
# The slice that holds the whole population (drift.result.ALL_SLICE).
WHOLE_POPULATION = "all"


@dataclass(frozen=True)
class DriftHit:
    """One flagged drift result on the whole population."""

    source: str  # univariate | multivariate
    detector: str
    feature: str
    granularity: str
    reference: str
    window_start: dt.date
    window_end: dt.date
    effect_size: float  # nan when the detector has none
    effect_size_name: str
    p_value: float  # adjusted when available; nan when none

    def large_enough(self, min_effect: float) -> bool:
        """Univariate: ``|effect| >= min_effect``; multivariate: always (the test is the flag)."""
        if self.source == MULTIVARIATE:
            return True
        return not math.isnan(self.effect_size) and abs(self.effect_size) >= min_effect

    def describe(self) -> str:
        """``detector on feature (effect name=value, p=...)`` for reasons and alert messages."""
        effect = "" if math.isnan(self.effect_size) else f", {self.effect_size_name}={self.effect_size:.3f}"
        p = "" if math.isnan(self.p_value) else f", p={self.p_value:.2g}"
        return f"{self.detector} on {self.feature}{effect}{p}"


@dataclass(frozen=True)
class PersistentShift:
    """A run of adjacent hits of one series, ending at ``last`` (the window that confirms it)."""

    first_start: dt.date
    windows: int
    last: DriftHit

    def describe(self) -> str:
        """Why a trigger fired: table, detector, feature, windows, effect."""
        return (f"{SOURCE_TABLES[self.last.source]}: {self.last.describe()}; "
                f"{self.windows} consecutive {self.last.granularity} window(s) "
                f"{self.first_start.isoformat()}..{self.last.window_end.isoformat()}")


def _date(v: dt.date | dt.datetime) -> dt.date:
    return v.date() if isinstance(v, dt.datetime) else v


def _float(v: float | None) -> float:
    return math.nan if v is None else float(v)


def load_hits(spark: SparkSession, catalog: Catalog, *, reference: str) -> list[DriftHit]:
    """Flagged whole-population results of both drift tables against ``reference`` (absent tables: none)."""
    hits: list[DriftHit] = []
    for source, table in SOURCE_TABLES.items():
        if not table_exists(spark, catalog, table):
            continue
        df = read_table(spark, catalog, table).where(
            (F.col("status") == "ok") & F.col("drift") & (F.col("slice") == WHOLE_POPULATION)
            & (F.col("reference") == reference)
        ).select("detector", "feature", "granularity", "reference", "window_start", "window_end", "effect_size",
                 "effect_size_name", F.coalesce("p_value_adjusted", "p_value").alias("p"))
        hits += [DriftHit(source, r["detector"], r["feature"], r["granularity"] or "", r["reference"],
                          _date(r["window_start"]), _date(r["window_end"]), _float(r["effect_size"]),
                          r["effect_size_name"] or "effect", _float(r["p"])) for r in df.collect()]
    return sorted(hits, key=lambda h: (h.window_start, h.source, h.detector, h.feature))


def persistent_shifts(hits: Iterable[DriftHit], *, min_windows: int, min_effect: float) -> list[PersistentShift]:
    """Every window in which a series has had at least ``min_windows`` adjacent large-enough hits.

    Args:
        hits: flagged results (any order).
        min_windows: adjacent windows a shift must last (``k``).
        min_effect: the least univariate effect size that counts.
    """
    series: dict[tuple[str, ...], list[DriftHit]] = defaultdict(list)
    for h in hits:
        if h.large_enough(min_effect):
            series[(h.source, h.detector, h.feature, h.granularity, h.reference)].append(h)
    out: list[PersistentShift] = []
    for rows in series.values():
        rows.sort(key=lambda h: h.window_start)
        run_start, length, prev_end = rows[0].window_start, 0, None
        for h in rows:
            if prev_end is not None and h.window_start == prev_end:
                length += 1
            else:
                run_start, length = h.window_start, 1
            prev_end = h.window_end
            if length >= min_windows:
                out.append(PersistentShift(run_start, length, h))
    return out


def overlapping(items: Sequence[DriftHit], start: dt.date, end: dt.date) -> list[DriftHit]:
    """Hits whose window ``[window_start, window_end)`` overlaps ``[start, end)``."""
    return [h for h in items if h.window_start < end and h.window_end > start]


def shifts_in(shifts: Sequence[PersistentShift], start: dt.date, end: dt.date) -> list[PersistentShift]:
    """Shifts confirmed in a window overlapping ``[start, end)``, largest effect first."""
    found = [s for s in shifts if s.last.window_start < end and s.last.window_end > start]
    return sorted(found, key=lambda s: (-abs(s.last.effect_size) if not math.isnan(s.last.effect_size) else 0.0,
                                        s.last.detector, s.last.feature))
