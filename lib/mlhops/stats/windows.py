"""Windows over UTC days, all ``[start, end)``: tumbling, sliding and cumulative.

Day states are the base grain. A tumbling window (``week`` starts Monday, ``month`` on the 1st)
is the merge of its days; a sliding window of N days is evaluated at each week end (the
window ``[end - N days, end)`` for every Monday ``end``); a cumulative window runs from the
first day of history to each month end. Functions here are pure: dates in, dates out, or
DataFrame -> DataFrame adding the windows each day state belongs to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mlhops.errors import ConfigError
from mlhops.windows import date_bounds, window_bounds

TUMBLING = ("day", "week", "month")
CUMULATIVE = "cumulative"


def sliding_name(days: int) -> str:
    """Granularity label of a sliding window of ``days`` days."""
    return f"sliding_{days}d"


def _check(granularity: str) -> None:
    if granularity not in TUMBLING:
        raise ConfigError(f"stats: unknown window granularity {granularity!r}")


def window_start(day: dt.date, granularity: str) -> dt.date:
    """Start of the tumbling window of ``granularity`` holding ``day``."""
    _check(granularity)
    return date_bounds(day, granularity)[0]


def window_end(start: dt.date, granularity: str) -> dt.date:
    """Exclusive end of the tumbling window starting at ``start``."""
    _check(granularity)
    return date_bounds(start, granularity)[1]


def previous_start(start: dt.date, granularity: str) -> dt.date:
    """Start of the tumbling window before the one starting at ``start``."""
    return window_start(start - dt.timedelta(days=1), granularity)


def touched_windows(days: Iterable[dt.date], granularity: str) -> list[tuple[dt.date, dt.date]]:
    """Sorted distinct ``(start, end)`` of the tumbling windows holding ``days``."""
    starts = sorted({window_start(d, granularity) for d in days})
    return [(s, window_end(s, granularity)) for s in starts]


def sliding_ends(day: dt.date, days: int) -> list[dt.date]:
    """Ends (Mondays) of the sliding windows of ``days`` days that hold ``day``."""
    first = window_start(day, "week") + dt.timedelta(days=7)
    out = []
    end = first
    while end <= day + dt.timedelta(days=days):
        out.append(end)
        end += dt.timedelta(days=7)
    return out


def tumbling(states: DataFrame, granularity: str) -> DataFrame:
    """Day states with ``granularity, window_start, window_end`` of their tumbling window."""
    _check(granularity)
    start, end = window_bounds(F.col("window_start"), granularity)
    return states.withColumns({"granularity": F.lit(granularity), "window_start": start, "window_end": end})


def sliding(states: DataFrame, days: int) -> DataFrame:
    """Day states once per sliding window (``days`` long, ending on a Monday) that holds them."""
    day = F.col("window_start")
    first_end = window_bounds(day, "week")[1]  # first Monday after day
    ends = F.sequence(first_end, F.date_add(day, days), F.expr("INTERVAL 7 DAYS"))
    exploded = states.withColumn("_end", F.explode(ends))
    return exploded.withColumns(
        {
            "granularity": F.lit(sliding_name(days)),
            "window_start": F.date_sub(F.col("_end"), days),
            "window_end": F.col("_end"),
        }
    ).drop("_end")


def cumulative(month_states: DataFrame, history_start: dt.date, last_end: dt.date) -> DataFrame:
    """States once per cumulative window ``[history_start, month end)`` that holds them (every
    month end from the state's own end, rounded up to a month boundary, to ``last_end``)."""
    first = F.when(F.dayofmonth("window_end") == 1, F.col("window_end")).otherwise(
        F.add_months(F.trunc("window_end", "month"), 1)
    )
    ends = F.sequence(first, F.lit(last_end), F.expr("INTERVAL 1 MONTH"))
    exploded = month_states.withColumn("_end", F.explode(ends))
    return exploded.withColumns(
        {"granularity": F.lit(CUMULATIVE), "window_start": F.lit(history_start), "window_end": F.col("_end")}
    ).drop("_end")


def cumulative_ends(history_start: dt.date, last_day: dt.date, months: int, first_touched: dt.date) -> list[dt.date]:
    """Ends of the cumulative windows ``[history_start, end)`` to recompute: the last ``months``
    month ends of the history (the month holding ``last_day`` included) that a change on
    ``first_touched`` affects, ascending."""
    ends = [window_end(window_start(last_day, "month"), "month")]
    while len(ends) < months and ends[-1] > history_start:
        ends.append(window_start(ends[-1] - dt.timedelta(days=1), "month"))
    first_touched_end = window_end(window_start(first_touched, "month"), "month")
    return sorted(e for e in ends if e > history_start and e >= first_touched_end)
