"""Schema evolution of platform tables: columns a table's spec gained after the table was created."""

from __future__ import annotations

import logging

from pyspark.sql import SparkSession

from mlhops.io.catalog import Catalog
from mlhops.io.delta import read_table, table_exists
from mlhops.io.tables.spec import TableSpec

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
        spark.sql(f"ALTER TABLE {catalog.sql_ref(table.name)} ADD COLUMNS ({cols})")
        logger.info("%s: added column(s) %s", table.name, ", ".join(f.name for f in missing))
    return [f.name for f in missing]
