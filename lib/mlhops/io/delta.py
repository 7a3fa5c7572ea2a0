"""Delta read / overwrite / MERGE / replaceWhere by table name.

Every write path here is idempotent: MERGE on stable keys, or replaceWhere on a window. There is
deliberately no blind append. Tables are addressed by path or, in a metastore catalog, by name
only (:mod:`mlhops.io.catalog`); nothing outside this module and the catalog knows which.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from delta.exceptions import (
    ConcurrentAppendException,
    ConcurrentDeleteDeleteException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    ConcurrentWriteException,
    DeltaConcurrentModificationException,
    MetadataChangedException,
    ProtocolChangedException,
)
from delta.tables import DeltaTable

try:  # Spark Connect: makes the client raise Delta's conflicts as the classes below (see there)
    import delta.connect.exceptions  # noqa: F401
except ImportError:  # a classic-only install (no grpc): no Connect session can exist
    pass
from py4j.protocol import Py4JError
from pyspark.sql import DataFrame, DataFrameReader, DataFrameWriter, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mlhops.errors import ConfigError
from mlhops.io.catalog import SCHEMAS, SESSION_CATALOG, Catalog
from mlhops.io.connect import is_connect
from mlhops.io.delta_sql import SqlDeltaTable, same_column, sql_literal
from mlhops.io.fs import exists

logger = logging.getLogger(__name__)


# The handle of a Delta table: Delta's own, or its SQL form on a Spark Connect session.
Table = DeltaTable | SqlDeltaTable

# Delta's commit conflicts: another transaction committed between this one's read and commit.
# On a Spark Connect session the server reports them by class name; Delta's own mapping
# (delta.connect.exceptions, imported above) makes the client raise subclasses of these, so the
# same ``except`` catches them on both kinds of session. Without that import a conflict arrived as
# a bare UnknownException and the writers' retries (ids, lease) let it fail the run.
CONCURRENT_WRITE_ERRORS: tuple[type[BaseException], ...] = (
    DeltaConcurrentModificationException,
    ConcurrentWriteException,
    MetadataChangedException,
    ProtocolChangedException,
    ConcurrentAppendException,
    ConcurrentDeleteReadException,
    ConcurrentDeleteDeleteException,
    ConcurrentTransactionException,
)

# Compaction after MERGEs. Each nightly MERGE adds a few small files to the table it writes; a
# year of nights leaves hundreds that every read and MERGE opens. When a MERGE leaves a table with
# COMPACT_AFTER_FILES files or more averaging under SMALL_FILE_BYTES, the writer bin-packs them
# (Delta's OPTIMIZE: one dataChange=false commit, so change-feed readers and the stages'
# watermarks see no new rows). Tables of large files are left alone (OPTIMIZE would rewrite them
# into 1 GB files for nothing). Tables written by window (replace_where) are not compacted: their
# files hold one window each, which is what lets a window's replacement rewrite only its own.
# A compacted file holds many nights, so a MERGE that updates a few of its rows would rewrite all
# of it (1.66x the MERGE time of the uncompacted table at 360 nights, docs/benchmarks.md): tables
# that MERGEs update are created with deletion vectors (DELETION_VECTORS), which mark the old rows
# instead (faster than either). Erasure purges them (mlhops.erasure.apply). Delta's own auto compaction (the
# delta.autoOptimize.autoCompact property) was tried first: in Delta 4.4 it compacted after every
# write of a fresh session (tables of 3 and 9 small files, against its threshold of 50), so each
# nightly process would pay an OPTIMIZE per write. The check reads DESCRIBE DETAIL (the commit's
# checksum, no data: 40-90 ms warm).
COMPACT_AFTER_FILES = 64
SMALL_FILE_BYTES = 32 * 2**20
# Writer option of a MERGE target's creation (a table property set at creation only).
DELETION_VECTORS = ("delta.enableDeletionVectors", "true")


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


def compact_if_fragmented(spark: SparkSession, catalog: Catalog, name: str) -> bool:
    """Bin-pack the table's files when they are many and small (:data:`COMPACT_AFTER_FILES`,
    :data:`SMALL_FILE_BYTES`); True when it did. A concurrent writer's commit makes this one give
    up (the next write checks again): compaction never fails the write it follows."""
    table = delta_table(spark, catalog, name)
    detail = table.detail().select("numFiles", "sizeInBytes").first()
    files, size = (int(detail["numFiles"] or 0), int(detail["sizeInBytes"] or 0)) if detail else (0, 0)
    if files < COMPACT_AFTER_FILES or size >= files * SMALL_FILE_BYTES:
        return False
    try:
        table.optimize().executeCompaction()
    except CONCURRENT_WRITE_ERRORS:
        logger.info("compaction of %s conflicted with a concurrent commit; the next write retries", name)
        return False
    logger.info("compacted %s: %d files, %.1f MB", name, files, size / 2**20)
    return True


def _differs(f: T.StructField) -> str:
    """SQL condition 'target and source differ' for one column (maps compared as JSON)."""
    return f"NOT ({same_column(f)})"


def _bounds(df: DataFrame, column: str) -> tuple[object, object, bool, bool]:
    """``(min, max, has_null, has_rows)`` of ``column`` in ``df``, in one aggregation."""
    row = df.agg(
        F.min(column).alias("lo"), F.max(column).alias("hi"),
        F.max(F.col(column).isNull().cast("int")).alias("nulls"), F.count(F.lit(1)).alias("n"),
    ).first()
    if row is None:  # a global aggregation returns one row; kept for the type checker
        return None, None, False, False
    return row["lo"], row["hi"], bool(row["nulls"]), bool(row["n"])


def _target_bound(column: str, lo: object, hi: object, has_null: bool) -> str:
    """SQL condition on the target alias ``t``: ``column`` within ``[lo, hi]`` (or null, when the
    source has nulls there: keys match null-safe)."""
    within = [f"(t.`{column}` BETWEEN {sql_literal(lo)} AND {sql_literal(hi)})"] if lo is not None else []
    if has_null:
        within.append(f"t.`{column}` IS NULL")
    return "(" + " OR ".join(within) + ")"


def merge_into(
    df: DataFrame,
    catalog: Catalog,
    name: str,
    keys: Sequence[str],
    *,
    update: bool = True,
    partition_by: Sequence[str] = (),
    bound_by: str | None = None,
    bounds: tuple[Any, Any] | None = None,
) -> None:
    """Upsert ``df`` into a table on ``keys`` (creating it on first write).

    Rows whose non-key columns did not change are left alone, so a re-run of the same input
    commits no data change (the table's rows stay identical). A table created here to be updated
    (``update``) gets deletion vectors; a MERGE that leaves the table in many small files compacts
    it (:func:`compact_if_fragmented`).

    ``bound_by`` (one of ``keys``) limits the target side of the MERGE to the source's range of
    that column (``t.col BETWEEN min AND max``, literals, so Delta skips the files whose column
    statistics lie outside it) at the cost of one aggregation of the source. Safe for any key
    column: a target row that matches a source row on the keys holds the same value in it. It pays
    where the target's files each hold a narrow range of the column: a window, a model version,
    ids assigned in increasing order (each night's new rows land in new files). ``bounds`` gives
    the source's ``(min, max)`` of that column where the caller knows it (rows it holds, the one
    model version it scored): no aggregation then; a source value outside it would be inserted
    beside its existing row, so only pass what the rows themselves hold.
    """
    if bound_by is not None and bound_by not in keys:
        raise ValueError(f"merge_into({name}): bound_by={bound_by!r} is not one of the keys {list(keys)}")
    spark = df.sparkSession
    if not table_exists(spark, catalog, name):
        writer = df.write.format("delta").mode("overwrite")
        if update:
            writer = writer.option(*DELETION_VECTORS)
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        save(writer, catalog, name)
        logger.info("created %s", name)
        return
    cond = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    if bound_by is not None:
        lo, hi, has_null, has_rows = _bounds(df, bound_by) if bounds is None else (*bounds, False, True)
        if not has_rows:
            logger.info("%s: nothing to merge, no commit", name)
            return
        cond = f"{cond} AND {_target_bound(bound_by, lo, hi, has_null)}"
    target = delta_table(spark, catalog, name)
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
    compact_if_fragmented(spark, catalog, name)
