"""Which days of feature rows a stats run recomputes.

The days touched since the last processed version of ``mlhops.features`` come from its change
data feed (both images of updated rows, so a row that moved day touches both days); a request
for ``[start, end)`` adds the days of the rows in that range.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mlhops.io import Catalog, read_table
from mlhops.io.changes import changed_since, changed_values
from mlhops.io.tables.monitoring import FEATURES


def _days(values: Iterable[object]) -> set[dt.date]:
    return {v for v in values if isinstance(v, dt.date)}


def touched_days(spark: SparkSession, catalog: Catalog, since: int | None, version: int) -> list[dt.date] | None:
    """Days of feature rows changed after version ``since``; None when only a full run will do."""
    if since is not None and since > version:
        return []
    values = changed_since(spark, catalog, FEATURES, "event_date", since, version)
    return None if values is None else sorted(_days(values))


def with_requested_days(
    spark: SparkSession,
    catalog: Catalog,
    touched: list[dt.date] | None,
    start: dt.date | None,
    end: dt.date | None,
) -> list[dt.date] | None:
    """``touched`` plus the days of the feature rows in ``[start, end)`` (a full run stays full)."""
    if touched is None or (start is None and end is None):
        return touched
    rows = read_table(spark, catalog, FEATURES)
    if start is not None:
        rows = rows.where(F.col("event_date") >= F.lit(start))
    if end is not None:
        rows = rows.where(F.col("event_date") < F.lit(end))
    extra = changed_values(rows, "event_date") or []
    return sorted(set(touched) | _days(extra))
