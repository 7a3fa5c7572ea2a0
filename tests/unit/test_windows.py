"""Tumbling window bounds on the driver (the Spark twin is checked in tests/spark/stats)."""

import datetime as dt

import pytest

from mlhops.errors import ConfigError
from mlhops.windows import date_bounds


def test_week_starts_monday_and_lasts_seven_days():
    # 2024-03-07 is a Thursday.
    assert date_bounds(dt.date(2024, 3, 7), "week") == (dt.date(2024, 3, 4), dt.date(2024, 3, 11))
    assert date_bounds(dt.date(2024, 3, 4), "week") == (dt.date(2024, 3, 4), dt.date(2024, 3, 11))
    assert date_bounds(dt.date(2024, 3, 10), "week") == (dt.date(2024, 3, 4), dt.date(2024, 3, 11))


def test_month_runs_from_first_to_next_first_across_year_end_and_leap_day():
    assert date_bounds(dt.date(2024, 2, 29), "month") == (dt.date(2024, 2, 1), dt.date(2024, 3, 1))
    assert date_bounds(dt.date(2023, 12, 31), "month") == (dt.date(2023, 12, 1), dt.date(2024, 1, 1))


def test_day_and_year_windows():
    assert date_bounds(dt.date(2023, 12, 31), "day") == (dt.date(2023, 12, 31), dt.date(2024, 1, 1))
    assert date_bounds(dt.date(2024, 7, 1), "year") == (dt.date(2024, 1, 1), dt.date(2025, 1, 1))


def test_unknown_granularity_is_a_config_error():
    with pytest.raises(ConfigError):
        date_bounds(dt.date(2024, 1, 1), "fortnight")
