"""Stable 32-bit OMOP ids from salted natural keys, persisted in ``mlhops.id_map``.

``id_map`` holds ``(kind, key_hash, id)``; ``key_hash`` is the salted hash of the natural key,
so the table holds no source identifier. A key keeps its id forever: re-runs and later
extracts look it up; keys never seen get ``max(id of kind) + 1 + rank``, ranks from a global
sort of the new hashes (range-partitioned sort, per-partition offsets; no driver loop and no
single-partition window).

Concurrent writers. The ``etl`` stage holds the warehouse writer lease
(:mod:`mlhops.io.lease`) around id assignment, so one writer at a time is the rule. Assignment
is nevertheless safe on its own: ids are computed from one pinned ``id_map`` version; the
insert-only MERGE on ``(kind, key_hash)`` fails on a Delta commit conflict; after it commits,
any other commit made since the pinned version is checked for ``(kind, id)`` pairs it shares
with this attempt's new ids. On a conflict or a shared id this attempt's own new rows are
deleted and the assignment starts again from the newest version (bounded retries, with
jitter). What is returned is read back from the committed map, so a key that a concurrent
writer assigned first gets that writer's id.
"""

from __future__ import annotations

import logging
import random
import time

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.errors import DataQualityError
from mlhops.io import Catalog, merge_into, read_table, table_exists, table_version
from mlhops.io.delta import delta_table, save
from mlhops.io.lease import CONCURRENT_WRITE_ERRORS
from mlhops.io.tables.etl import ID_MAP, ID_MAP_KEYS

logger = logging.getLogger(__name__)

MAX_ID = 2**31 - 1
_ROW_BITS = 33
# Attempts before a writer that keeps colliding gives up (each retry starts from the newest map).
MAX_ATTEMPTS = 8
# Upper bound of the random pause before a retry, seconds (desynchronises two colliding writers).
_RETRY_JITTER_S = 2.0


def dense_rank_sorted(df: DataFrame, order_col: str, group_col: str) -> tuple[DataFrame, dict[str, int]]:
    """Add ``_rank`` (0-based position in ascending ``order_col`` order) to ``df``.

    ``order_col`` must be unique. Sorting range-partitions the data; rows are then numbered
    by partition offset + row index, with the offsets from one small count job, which also
    counts the rows of each ``group_col`` value.

    Returns:
        the ranked frame and its row count per ``group_col`` value.
    """
    ordered = df.orderBy(order_col).localCheckpoint(eager=True)
    with_pid = ordered.withColumn("_pid", F.spark_partition_id())
    per_pid: dict[int, int] = {}
    per_group: dict[str, int] = {}
    for r in with_pid.groupBy("_pid", group_col).agg(F.count(F.lit(1)).alias("_n")).collect():
        per_pid[int(r["_pid"])] = per_pid.get(int(r["_pid"]), 0) + int(r["_n"])
        per_group[r[group_col]] = per_group.get(r[group_col], 0) + int(r["_n"])
    pairs = []
    running = 0
    for pid, n in sorted(per_pid.items()):
        pairs += [F.lit(pid), F.lit(running).cast("long")]
        running += n
    offset = F.element_at(F.create_map(*pairs), F.col("_pid")) if pairs else F.lit(0).cast("long")
    idx = F.monotonically_increasing_id().bitwiseAND(F.lit((1 << _ROW_BITS) - 1))
    return with_pid.withColumn("_rank", offset + idx).drop("_pid"), per_group


def _first_ranks(counts: dict[str, int]) -> dict[str, int]:
    """Rank of each kind's first new key. The sort key is ``kind|key_hash``: the keys of one kind
    share the prefix ``kind|`` and so form one contiguous block (no kind contains ``|``), and
    the blocks follow the order of their prefixes."""
    if any("|" in kind for kind in counts):
        raise ValueError("id kinds must not contain '|'")
    firsts: dict[str, int] = {}
    running = 0
    for kind in sorted(counts, key=lambda k: f"{k}|"):
        firsts[kind] = running
        running += counts[kind]
    return firsts


class IdConflict(Exception):
    """This attempt's new ids collided with a concurrent writer's (its rows were removed)."""


def _new_ids(spark: SparkSession, catalog: Catalog, wanted: DataFrame, run_id: str,
             version: int | None) -> tuple[DataFrame, int]:
    """New ``(kind, key_hash, id, run_id)`` rows for the keys of ``wanted`` missing from
    ``id_map`` at ``version`` (materialised), and how many there are."""
    if version is not None:
        id_map = read_table(spark, catalog, ID_MAP, version=version)
        new = wanted.join(id_map.select("kind", "key_hash"), ["kind", "key_hash"], "left_anti")
        bases = {r["kind"]: int(r["m"]) for r in id_map.groupBy("kind").agg(F.max("id").alias("m")).collect()}
    else:
        new, bases = wanted, {}
    ranked, counts = dense_rank_sorted(new.withColumn("_order", F.concat_ws("|", "kind", "key_hash")), "_order", "kind")
    firsts = _first_ranks(counts)
    if any(bases.get(kind, 0) + n > MAX_ID for kind, n in counts.items()):
        raise DataQualityError(f"{ID_MAP}: an id space is exhausted (32-bit OMOP ids)")
    pairs = []
    for kind, first in firsts.items():
        pairs += [F.lit(kind), F.lit(bases.get(kind, 0) + 1 - first).cast("long")]
    shift = F.element_at(F.create_map(*pairs), F.col("kind")) if pairs else F.lit(0).cast("long")
    fresh = ranked.select("kind", "key_hash", (shift + F.col("_rank")).cast("int").alias("id"), F.lit(run_id).alias("run_id"))
    return fresh.localCheckpoint(eager=True), sum(counts.values())


def _withdraw(spark: SparkSession, catalog: Catalog, fresh: DataFrame, run_id: str) -> None:
    """Delete the rows this attempt inserted (its new keys, recorded with its run id); a
    concurrent commit during the delete makes it try again."""
    if fresh.isEmpty() or not table_exists(spark, catalog, ID_MAP):
        return
    for _ in range(MAX_ATTEMPTS):
        try:
            delta_table(spark, catalog, ID_MAP).alias("t").merge(
                fresh.select("kind", "key_hash", "run_id").alias("s"),
                "t.kind = s.kind AND t.key_hash = s.key_hash AND t.run_id = s.run_id",
            ).whenMatchedDelete().execute()
            logger.warning("id assignment of run %s collided with a concurrent writer; its new ids were withdrawn", run_id)
            return
        except CONCURRENT_WRITE_ERRORS:
            time.sleep(random.uniform(0, _RETRY_JITTER_S))
    raise DataQualityError(f"{ID_MAP}: could not withdraw colliding ids of run {run_id}; stop concurrent ETL runs and re-run")


def _check_no_shared_ids(spark: SparkSession, catalog: Catalog, fresh: DataFrame, pinned: int | None) -> None:
    """Raise :class:`IdConflict` when a commit after ``pinned`` other than this attempt's holds
    one of the ``(kind, id)`` pairs this attempt inserted."""
    latest = table_version(spark, catalog, ID_MAP)
    if latest is None or latest == (pinned if pinned is not None else -1) + 1:
        return  # only this attempt committed since the pinned version
    stored = read_table(spark, catalog, ID_MAP)
    shared = (
        stored.join(fresh.select("kind", "id"), ["kind", "id"])
        .groupBy("kind", "id").agg(F.count(F.lit(1)).alias("n")).where("n > 1").limit(1).count()
    )
    if shared:
        raise IdConflict()


def _create(fresh: DataFrame, catalog: Catalog) -> None:
    """Create ``id_map`` with ``fresh``; a concurrent creator makes this fail, never overwrite."""
    try:
        save(fresh.write.format("delta").mode("error"), catalog, ID_MAP)
    except AnalysisException as exc:
        if "already exists" not in str(exc).lower() and "PATH_ALREADY_EXISTS" not in str(exc):
            raise
        raise IdConflict() from exc


def _resolved(spark: SparkSession, catalog: Catalog, wanted: DataFrame) -> DataFrame:
    """``wanted`` with its ids from the committed map (materialised); :class:`IdConflict` when a
    key is missing (a concurrent writer replaced what this attempt committed)."""
    if not table_exists(spark, catalog, ID_MAP):
        if wanted.isEmpty():
            return spark.createDataFrame([], "kind string, key_hash string, id int")
        raise IdConflict()
    committed = read_table(spark, catalog, ID_MAP).select("kind", "key_hash", "id")
    resolved = wanted.join(committed, ["kind", "key_hash"]).localCheckpoint(eager=True)
    if resolved.count() != wanted.count():
        raise IdConflict()
    return resolved


def assign_ids(spark: SparkSession, catalog: Catalog, keys: DataFrame, run_id: str) -> DataFrame:
    """Ids for the distinct ``(kind, key_hash)`` pairs of ``keys``; new ones are persisted.

    All id spaces are served by one sort and one MERGE into ``mlhops.id_map``; a commit that
    conflicts with a concurrent writer is withdrawn and retried (module docstring).

    Args:
        spark: the session.
        catalog: table locations.
        keys: frame with ``kind`` (id space: ``"person"``, ``"visit"``, ``"event"``, ...) and
            ``key_hash`` (keyed hash, see :mod:`mlhops.hashing`) columns.
        run_id: recorded on newly assigned ids.

    Returns:
        Frame ``(kind, key_hash, id)`` covering every input pair (materialised).

    Raises:
        DataQualityError: an id space would exceed 32 bits, or concurrent writers kept
            colliding for :data:`MAX_ATTEMPTS` attempts.
    """
    wanted = keys.select("kind", "key_hash").where(F.col("key_hash").isNotNull()).distinct().localCheckpoint(eager=True)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        pinned = table_version(spark, catalog, ID_MAP)
        fresh, n_new = _new_ids(spark, catalog, wanted, run_id, pinned)
        try:
            if n_new and pinned is None:
                _create(fresh, catalog)
            elif n_new:
                merge_into(fresh, catalog, ID_MAP, keys=list(ID_MAP_KEYS), update=False)
            if n_new:
                _check_no_shared_ids(spark, catalog, fresh, pinned)
            resolved = _resolved(spark, catalog, wanted)
        except (IdConflict, *CONCURRENT_WRITE_ERRORS):
            _withdraw(spark, catalog, fresh, run_id)
            logger.info("id assignment attempt %d of %d conflicted; retrying from the newest id map", attempt, MAX_ATTEMPTS)
            time.sleep(random.uniform(0, _RETRY_JITTER_S))
            continue
        if n_new:
            logger.info("assigned %d new ids", n_new)
        return resolved
    raise DataQualityError(
        f"{ID_MAP}: id assignment collided with concurrent writers {MAX_ATTEMPTS} times; run the ETL stages of "
        f"this warehouse one at a time (the writer lease, mlhops.io.lease, does so) and re-run"
    )
