"""Delta read / overwrite / MERGE / replaceWhere by table name.

Every write path here is idempotent: MERGE on stable keys, or replaceWhere on a window. There is
deliberately no blind append. Tables are addressed by path or, in a metastore catalog, by name
only (:mod:`mlhops.io.catalog`); nothing outside this module and the catalog knows which.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from delta.tables import DeltaTable
from py4j.protocol import Py4JError
from pyspark.sql import DataFrame, DataFrameReader, DataFrameWriter, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mlhops.errors import ConfigError
from mlhops.io.catalog import SCHEMAS, SESSION_CATALOG, Catalog
from mlhops.io.connect import is_connect
from mlhops.io.delta_sql import SqlDeltaTable, same_column
from mlhops.io.fs import exists

logger = logging.getLogger(__name__)


# The handle of a Delta table: Delta's own, or its SQL form on a Spark Connect session.
Table = DeltaTable | SqlDeltaTable


def table_exists(spark: SparkSession, catalog: Catalog, name: str) -> bool:
    if catalog.by_name:
        return bool(spark.catalog.tableExists(catalog.key(name)))
    if is_connect(spark):  # DeltaTable.isDeltaTable needs Delta Connect's server plugin
        return exists(spark, catalog.path(name).rstrip("/") + "/_delta_log")
    return DeltaTable.isDeltaTable(spark, catalog.path(name))


def delta_table(spark: SparkSession, catalog: Catalog, name: str) -> Table:
    """The Delta table handle (MERGE, DELETE, VACUUM, history) of an existing table: Delta's
    ``DeltaTable`` on a classic session, its SQL form (:mod:`mlhops.io.delta_sql`) on Connect."""
    if is_connect(spark):
        return SqlDeltaTable(spark, catalog.sql_ref(name))
    if catalog.by_name:
        return DeltaTable.forName(spark, catalog.table_name(name))
    return DeltaTable.forPath(spark, catalog.path(name))


def load(reader: DataFrameReader, catalog: Catalog, name: str) -> DataFrame:
    """``reader`` (Delta format, its options set) applied to the table."""
    if catalog.by_name:
        return reader.table(catalog.table_name(name))
    return reader.load(catalog.path(name))


def save(writer: DataFrameWriter, catalog: Catalog, name: str) -> None:
    """``writer`` (Delta format, its mode and options set) applied to the table; in a metastore
    catalog the table is created there (managed) on its first write."""
    if catalog.by_name:
        writer.saveAsTable(catalog.table_name(name))
    else:
        writer.save(catalog.path(name))


def table_location(spark: SparkSession, catalog: Catalog, name: str) -> str:
    """Where the table's files are (its Delta log's parent): for file-level work (erasure's
    trace search) and lineage."""
    if not catalog.by_name:
        return catalog.path(name)
    row = spark.sql(f"DESCRIBE DETAIL {catalog.table_name(name)}").select("location").first()
    if row is None or not row["location"]:
        raise ConfigError(f"{name}: the metastore gives no location for {catalog.table_name(name)}")
    return str(row["location"])


def ensure_schemas(spark: SparkSession, catalog: Catalog) -> None:
    """Metastore mode: the two schemas must exist. In Spark's own session catalog they are
    created, placed under the warehouse root (so managed tables sit where path mode puts them);
    in any other catalog (Unity Catalog, Glue) schemas carry grants the platform team owns, so a
    missing one is an error saying what to create."""
    if not catalog.by_name:
        return
    in_session = (catalog.name or spark.catalog.currentCatalog()) == SESSION_CATALOG
    for schema in SCHEMAS:
        qualified = catalog.schema_name(schema)
        if spark.catalog.databaseExists(qualified.replace("`", "")):
            continue
        if not in_session:
            raise ConfigError(
                f"schema {qualified} does not exist: create it (CREATE SCHEMA {qualified}) and grant "
                "this job's principal USE SCHEMA, CREATE TABLE, SELECT and MODIFY on it"
            )
        location = f"{catalog.warehouse.rstrip('/')}/{schema}".replace("'", "\\'")
        spark.sql(f"CREATE SCHEMA IF NOT EXISTS {qualified} LOCATION '{location}'")
        logger.info("created schema %s", qualified)


def read_table(spark: SparkSession, catalog: Catalog, name: str, version: int | None = None) -> DataFrame:
    """Read a Delta table (optionally at a version, for lineage and time travel)."""
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return load(reader, catalog, name)


def table_version(spark: SparkSession, catalog: Catalog, name: str) -> int | None:
    """Latest committed Delta version of a table, or None when it does not exist.

    Read from the table's Delta log snapshot on the driver (milliseconds); ``history(1)`` runs
    a Spark job per call, and the ETL and stats stages ask after every write.
    """
    if not table_exists(spark, catalog, name):
        return None
    if not catalog.by_name and not is_connect(spark):
        try:
            jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
            log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, catalog.path(name))  # type: ignore[attr-defined]
            none = jvm.scala.Option.empty()
            return int(log.update(False, none, none).version())
        except Py4JError:  # another Delta release's internal API: fall back to the public history
            logger.debug("Delta log snapshot API unavailable; reading %s history", name)
    row = delta_table(spark, catalog, name).history(1).select("version").first()
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
    save(writer, catalog, name)
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
        save(writer, catalog, name)
        return
    save(writer.option("replaceWhere", predicate), catalog, name)
    logger.info("replaced %s where %s", name, predicate)


def delete_where(spark: SparkSession, catalog: Catalog, name: str, predicate: str) -> None:
    if table_exists(spark, catalog, name):
        delta_table(spark, catalog, name).delete(predicate)


def _differs(f: T.StructField) -> str:
    """SQL condition 'target and source differ' for one column (maps compared as JSON)."""
    return f"NOT ({same_column(f)})"


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
    if not table_exists(spark, catalog, name):
        writer = df.write.format("delta").mode("overwrite")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        save(writer, catalog, name)
        logger.info("created %s", name)
        return
    target = delta_table(spark, catalog, name)
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
