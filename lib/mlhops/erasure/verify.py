"""The erasure's last step: search every planned table for what is left of the erased keys.

Two places per table: its current version, and every data file under its folder (all versions'
files and the change-data files that VACUUM should have deleted; ``_delta_log`` aside, see
docs/security.md). A file is read as Parquet and the table's delete condition applied to it when
it has the condition's columns (partition columns come from the folder names).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from mlhops.erasure.plan import TableDeletion
from mlhops.errors import MLHOpsError
from mlhops.io import Catalog, read_table
from mlhops.io.delta import table_location
from mlhops.io.fs import list_tree

logger = logging.getLogger(__name__)

DELTA_LOG = "_delta_log"


class ErasureIncompleteError(MLHOpsError):
    """Rows or files of erased persons remain after an erasure (tables and counts named)."""


def data_files(spark: SparkSession, root: str) -> list[str]:
    """Every Parquet data file under a table folder (current, old and change-data files)."""
    base = root.rstrip("/")
    return [f"{base}{rel}" for rel, _, _ in list_tree(spark, base)
            if rel.endswith(".parquet") and f"/{DELTA_LOG}/" not in f"{rel}/" and not rel.startswith(f"/{DELTA_LOG}")]


def _matches(df: DataFrame, d: TableDeletion) -> int:
    if not set(d.columns) <= set(df.columns):
        return 0
    return df.where(d.condition).count()


def _file_traces(spark: SparkSession, root: str, d: TableDeletion) -> int:
    files = data_files(spark, root)
    if not files:
        return 0
    reader = spark.read.option("basePath", root).option("mergeSchema", "true")
    try:
        return _matches(reader.parquet(*files), d)
    except AnalysisException:
        # Files of incompatible schemas (a column's type changed by an overwrite): one at a time.
        return sum(_matches(spark.read.option("basePath", root).parquet(f), d) for f in files)


def find_traces(spark: SparkSession, catalog: Catalog, deletions: Sequence[TableDeletion]) -> dict[str, int]:
    """Rows matching each table's delete condition, current rows and data files together.

    Returns:
        Per table with any trace: the number of matching rows found (``<table>`` for the
        current version, ``<table> (files)`` for its data files).
    """
    traces: dict[str, int] = {}
    for d in deletions:
        current = _matches(read_table(spark, catalog, d.table), d)
        if current:
            traces[d.table] = current
        in_files = _file_traces(spark, table_location(spark, catalog, d.table), d)
        if in_files:
            traces[f"{d.table} (files)"] = in_files
    return traces


def verify(spark: SparkSession, catalog: Catalog, deletions: Sequence[TableDeletion]) -> dict[str, int]:
    """:func:`find_traces`, logged by table and count (never keys); empty when nothing is left."""
    traces = find_traces(spark, catalog, deletions)
    for table, n in sorted(traces.items()):
        logger.error("erasure verification: %d rows of erased persons remain in %s", n, table)
    if not traces:
        logger.info("erasure verification: no trace in %d tables (current rows and data files)", len(deletions))
    return traces
