"""Driver-built result rows into their Delta tables."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import SparkSession

from mlhops.io import Catalog, merge_into, read_table, table_exists
from mlhops.io.tables import TableSpec

logger = logging.getLogger(__name__)


def add_missing_columns(spark: SparkSession, catalog: Catalog, table: TableSpec) -> list[str]:
    """Add to an existing table the (nullable) columns its spec gained since it was created.

    An older warehouse keeps its rows and history: the new columns are null in them (Delta
    ``ALTER TABLE ... ADD COLUMNS``, a metadata-only commit).

    Returns:
        The columns added (none when the table is absent or current).
    """
    if not table_exists(spark, catalog, table.name):
        return []
    present = set(read_table(spark, catalog, table.name).columns)
    missing = [f for f in table.schema.fields if f.name not in present]
    if missing:
        cols = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in missing)
        spark.sql(f"ALTER TABLE delta.`{catalog.path(table.name)}` ADD COLUMNS ({cols})")
        logger.info("%s: added column(s) %s", table.name, ", ".join(f.name for f in missing))
    return [f.name for f in missing]


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
    merge_into(spark.createDataFrame(data, table.schema), catalog, table.name, list(table.keys))
