"""Tumbling calendar windows ``[start, end)`` over UTC days: the one definition of their bounds.

A ``day`` window is the day itself, a ``week`` starts on Monday, a ``month`` on the 1st and a
``year`` on January 1st. :func:`window_bounds` gives the bounds as Spark columns,
:func:`date_bounds` the same bounds for a Python date (planning on the driver); both agree.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mlhops.errors import ConfigError

GRANULARITIES = ("day", "week", "month", "year")

_DAYS_PER_WEEK = 7
_MONTHS = {"month": 1, "year": 12}


def _check(granularity: str) -> None:
    if granularity not in GRANULARITIES:
        raise ConfigError(f"unknown window granularity {granularity!r}; expected one of {GRANULARITIES}")


def window_bounds(col: Column, granularity: str) -> tuple[Column, Column]:
    """Bounds of the tumbling window holding each value of a date column.

    Args:
        col: Date (or timestamp/date string, cast to date) column.
        granularity: ``day``, ``week`` (starts Monday), ``month`` or ``year``.

    Returns:
        ``(window_start, window_end)`` date columns, end exclusive.

    Raises:
        ConfigError: For an unknown granularity.
    """
    _check(granularity)
    day = col.cast("date")
    if granularity == "day":
        return day, F.date_add(day, 1)
    if granularity == "week":
        start = F.date_trunc("week", day).cast("date")
        return start, F.date_add(start, _DAYS_PER_WEEK)
    start = F.trunc(day, granularity)
    return start, F.add_months(start, _MONTHS[granularity])


def with_windows(df: DataFrame, granularity: str, col: str = "event_date") -> DataFrame:
    """Add ``window_start`` and ``window_end`` of the tumbling window holding each row's ``col``.

    Args:
        df: Rows with a date column ``col``.
        granularity: ``day``, ``week``, ``month`` or ``year``.
        col: Name of the date column (may itself be ``window_start``: it is replaced).

    Returns:
        ``df`` with ``window_start`` and ``window_end`` set.
    """
    start, end = window_bounds(F.col(col), granularity)
    return df.withColumns({"window_start": start, "window_end": end})


def date_bounds(day: dt.date, granularity: str) -> tuple[dt.date, dt.date]:
    """Bounds of the tumbling window holding ``day``, on the driver (same rule as :func:`window_bounds`).

    Args:
        day: A calendar day.
        granularity: ``day``, ``week``, ``month`` or ``year``.

    Returns:
        ``(start, end)``, end exclusive.

    Raises:
        ConfigError: For an unknown granularity.
    """
    _check(granularity)
    if granularity == "day":
        return day, day + dt.timedelta(days=1)
    if granularity == "week":
        start = day - dt.timedelta(days=day.weekday())
        return start, start + dt.timedelta(days=_DAYS_PER_WEEK)
    if granularity == "month":
        start = day.replace(day=1)
        return start, (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    start = day.replace(month=1, day=1)
    return start, start.replace(year=start.year + 1)
