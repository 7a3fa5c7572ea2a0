"""Delta read / overwrite / MERGE / replaceWhere by table name.

Every write path here is idempotent: MERGE on stable keys, or replaceWhere on a window. There is
deliberately no blind append.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from delta.tables import DeltaTable
from py4j.protocol import Py4JError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mlhops.io.catalog import Catalog

logger = logging.getLogger(__name__)


def table_exists(spark: SparkSession, catalog: Catalog, name: str) -> bool:
    return DeltaTable.isDeltaTable(spark, catalog.path(name))


def read_table(spark: SparkSession, catalog: Catalog, name: str, version: int | None = None) -> DataFrame:
    """Read a Delta table (optionally at a version, for lineage and time travel)."""
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(catalog.path(name))


def table_version(spark: SparkSession, catalog: Catalog, name: str) -> int | None:
    """Latest committed Delta version of a table, or None when it does not exist.

    Read from the table's Delta log snapshot on the driver (milliseconds); ``history(1)`` runs
    a Spark job per call, and the ETL and stats stages ask after every write.
    """
    if not table_exists(spark, catalog, name):
        return None
    try:
        jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
        log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, catalog.path(name))  # type: ignore[attr-defined]
        none = jvm.scala.Option.empty()
        return int(log.update(False, none, none).version())
    except Py4JError:  # another Delta release's internal API: fall back to the public history
        logger.debug("Delta log snapshot API unavailable; reading %s history", name)
    row = DeltaTable.forPath(spark, catalog.path(name)).history(1).select("version").first()
    return int(row["version"]) if row else None


def write_overwrite(
    df: DataFrame, catalog: Catalog, name: str, *, partition_by: Sequence[str] = (),
    max_records_per_file: int | None = None,
) -> None:
    """Replace a whole table (schema included); ``max_records_per_file`` caps the rows of each
    file this write makes (a writer option: it affects this write only, never another thread's)."""
    writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
    if max_records_per_file is not None:
        writer = writer.option("maxRecordsPerFile", str(max_records_per_file))
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(catalog.path(name))
    logger.info("overwrote %s", name)


def replace_where(
    df: DataFrame, catalog: Catalog, name: str, predicate: str, *, partition_by: Sequence[str] = (),
    max_records_per_file: int | None = None,
) -> None:
    """Atomically replace the rows matching ``predicate`` (one window) with ``df``
    (``max_records_per_file``: as :func:`write_overwrite`)."""
    spark = df.sparkSession
    writer = df.write.format("delta").mode("overwrite")
    if max_records_per_file is not None:
        writer = writer.option("maxRecordsPerFile", str(max_records_per_file))
    if not table_exists(spark, catalog, name):
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.save(catalog.path(name))
        return
    writer.option("replaceWhere", predicate).save(catalog.path(name))
    logger.info("replaced %s where %s", name, predicate)


def delete_where(spark: SparkSession, catalog: Catalog, name: str, predicate: str) -> None:
    if table_exists(spark, catalog, name):
        DeltaTable.forPath(spark, catalog.path(name)).delete(predicate)


def _differs(f: T.StructField) -> str:
    """SQL condition 'target and source differ' for one column (maps compared as JSON)."""
    if isinstance(f.dataType, T.MapType) or (
        isinstance(f.dataType, T.ArrayType) and isinstance(f.dataType.elementType, T.MapType)
    ):
        return f"NOT (to_json(t.`{f.name}`) <=> to_json(s.`{f.name}`))"
    return f"NOT (t.`{f.name}` <=> s.`{f.name}`)"


def merge_into(
    df: DataFrame,
    catalog: Catalog,
    name: str,
    keys: Sequence[str],
    *,
    update: bool = True,
    partition_by: Sequence[str] = (),
) -> None:
    """Upsert ``df`` into a table on ``keys`` (creating it on first write).

    Rows whose non-key columns did not change are left alone, so a re-run of the same input
    commits no data change (the table's rows stay identical).
    """
    spark = df.sparkSession
    path = catalog.path(name)
    if not table_exists(spark, catalog, name):
        writer = df.write.format("delta").mode("overwrite")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.save(path)
        logger.info("created %s", name)
        return
    target = DeltaTable.forPath(spark, path)
    cond = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    others = [f for f in df.schema.fields if f.name not in keys] if update else []
    differs = " OR ".join(_differs(f) for f in others) if others else "false"
    # Only rows that are new or changed go into the MERGE; when there are none, nothing is
    # committed, so a re-run leaves even the table's version history untouched.
    probe = df.alias("s").join(target.toDF().alias("t"), F.expr(cond), "left").where(
        F.expr(f"({' AND '.join(f't.`{k}` IS NULL' for k in keys)}) OR ({differs})")
    ).select("s.*")
    if probe.isEmpty():
        logger.info("%s: nothing new or changed, no commit", name)
        return
    merge = target.alias("t").merge(df.alias("s"), cond)
    if others:
        merge = merge.whenMatchedUpdateAll(condition=differs)
    merge.whenNotMatchedInsertAll().execute()
    logger.info("merged into %s on %s", name, ",".join(keys))
