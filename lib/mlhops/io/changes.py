"""What changed since the last run: Delta change data feed and per-consumer version watermarks.

A consumer (``features``, ``stats``) remembers, per source table, the last Delta version it
processed in ``mlhops.stage_watermarks``. The next run reads the change data feed from the
version after it; when the feed is not available for that range (not enabled, vacuumed, or
the table was rewritten) the caller falls back to a full recompute.
"""

from __future__ import annotations

import logging

from pyspark.errors import AnalysisException
from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.io.catalog import Catalog
from mlhops.io.delta import load, merge_into, read_table, replace_where, table_exists
from mlhops.io.tables.monitoring import STAGE_WATERMARKS, WATERMARK_KEYS, WATERMARK_SCHEMA

logger = logging.getLogger(__name__)


def read_watermarks(spark: SparkSession, catalog: Catalog, consumer: str) -> dict[str, int]:
    """``{source table: last processed version}`` of one consumer."""
    if not table_exists(spark, catalog, STAGE_WATERMARKS):
        return {}
    rows = read_table(spark, catalog, STAGE_WATERMARKS).where(F.col("consumer") == consumer).collect()
    return {r["source"]: int(r["version"]) for r in rows}


def write_watermarks(
    spark: SparkSession,
    catalog: Catalog,
    consumer: str,
    versions: dict[str, int],
    previous: dict[str, int] | None = None,
) -> None:
    """Record the versions a consumer has now processed.

    ``previous``: the consumer's watermarks as read at the start of the run; when given, sources
    whose version did not move are not written (nothing at all when none moved), and the others
    are replaced in one ``replaceWhere`` commit without the join a MERGE needs.
    """
    if previous is None:
        rows = [(consumer, src, int(v)) for src, v in sorted(versions.items())]
        merge_into(spark.createDataFrame(rows, WATERMARK_SCHEMA), catalog, STAGE_WATERMARKS, list(WATERMARK_KEYS))
        return
    moved = {src: int(v) for src, v in versions.items() if previous.get(src) != int(v)}
    if not moved:
        return
    rows = [(consumer, src, v) for src, v in sorted(moved.items())]
    quoted = ", ".join("'" + src.replace("'", "''") + "'" for src in sorted(moved))
    consumer_lit = consumer.replace("'", "''")
    replace_where(
        spark.createDataFrame(rows, WATERMARK_SCHEMA),
        catalog,
        STAGE_WATERMARKS,
        f"consumer = '{consumer_lit}' AND source IN ({quoted})",
    )


def enable_change_feed(spark: SparkSession, catalog: Catalog, name: str) -> None:
    """Turn on the Delta change data feed of one of our own tables (idempotent)."""
    spark.sql(f"ALTER TABLE {catalog.sql_ref(name)} SET TBLPROPERTIES (delta.enableChangeDataFeed = true)")


def read_changes(spark: SparkSession, catalog: Catalog, name: str, start_version: int) -> DataFrame | None:
    """Change rows of ``name`` from ``start_version`` on, or None when the feed cannot serve them.

    Rows carry ``_change_type`` (insert, update_preimage, update_postimage, delete); both images
    of an update are kept so that a row moving between windows touches both.
    """
    try:
        reader = spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", start_version)
        df = load(reader, catalog, name)
        df.schema  # noqa: B018 - resolves the feed now, so an unavailable range fails here
        return df
    except (AnalysisException, CapturedException) as exc:
        logger.info("change feed of %s from version %d unavailable (%s)", name, start_version, type(exc).__name__)
        return None


def changed_values(changes: DataFrame, column: str) -> list[object] | None:
    """Distinct values of ``column`` among change rows (e.g. the touched days), or None on failure."""
    try:
        return [r[0] for r in changes.select(column).where(F.col(column).isNotNull()).distinct().collect()]
    except (AnalysisException, CapturedException) as exc:
        logger.info("change feed read failed (%s)", type(exc).__name__)
        return None


def changed_since(
    spark: SparkSession, catalog: Catalog, name: str, column: str, since: int | None, version: int
) -> list[object] | None:
    """Distinct ``column`` values of the rows of ``name`` changed after version ``since``.

    Args:
        spark: the session.
        catalog: table locations.
        name: the table (its change data feed is read).
        column: the column whose values the changes touch (e.g. ``event_date``, ``person_id``).
        since: the last version already processed; None when there is none.
        version: the table's current version.

    Returns:
        The values (empty when ``since == version``), or None when only a full recompute will
        do (no watermark, or the feed cannot serve the range).
    """
    if since is None:
        return None
    if since == version:
        return []
    changes = read_changes(spark, catalog, name, since + 1)
    if changes is None:
        return None
    return changed_values(changes, column)
