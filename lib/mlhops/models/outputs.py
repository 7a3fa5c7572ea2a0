"""Driver-built result rows into their Delta tables."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import SparkSession

from mlhops.io import Catalog, merge_into, table_exists
from mlhops.io.evolve import add_missing_columns
from mlhops.io.tables import TableSpec


def merge_rows(spark: SparkSession, catalog: Catalog, table: TableSpec, rows: Sequence[Mapping[str, Any]]) -> None:
    """MERGE rows into a table on its keys (created, possibly empty, on first use so readers find it).

    Args:
        spark: the session.
        catalog: the table catalog.
        table: the table's spec (schema and keys).
        rows: one mapping per row holding every column of the schema; nan becomes null. An
            existing table without a column of the spec gets it first (:func:`add_missing_columns`).
    """
    if not rows and table_exists(spark, catalog, table.name):
        return
    add_missing_columns(spark, catalog, table)
    data = [tuple(None if isinstance(v := r[c], float) and math.isnan(v) else v for c in table.columns) for r in rows]
    starts = {r["window_start"] for r in rows} if "window_start" in table.keys else set()
    # The rows' own windows bound the MERGE's target side (null-safe keys: no bound with a null).
    windows = sorted(starts) if None not in starts else []
    merge_into(spark.createDataFrame(data, table.schema), catalog, table.name, list(table.keys),
               bound_by="window_start" if windows else None, bounds=(windows[0], windows[-1]) if windows else None)
