"""The Spark window bounds agree with the driver's (one rule for stats, quality and scoring)."""

from __future__ import annotations

import datetime as dt

import pytest

from mlhops.windows import GRANULARITIES, date_bounds, with_windows

DAYS = [dt.date(2023, 12, 31), dt.date(2024, 1, 1), dt.date(2024, 2, 29), dt.date(2024, 3, 7), dt.date(2024, 3, 10)]


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_with_windows_matches_date_bounds(spark, granularity):
    df = spark.createDataFrame([(d,) for d in DAYS], "event_date date")
    rows = with_windows(df, granularity).orderBy("event_date").collect()
    assert [(r.window_start, r.window_end) for r in rows] == [date_bounds(d, granularity) for d in DAYS]


def test_with_windows_can_replace_the_day_column_itself(spark):
    df = spark.createDataFrame([(dt.date(2024, 3, 7),)], "window_start date")
    row = with_windows(df, "week", col="window_start").first()
    assert (row.window_start, row.window_end) == (dt.date(2024, 3, 4), dt.date(2024, 3, 11))
