"""Stable 32-bit OMOP ids from salted natural keys, persisted in ``mlhops.id_map``.

``id_map`` holds ``(kind, key_hash, id)``; ``key_hash`` is the salted hash of the natural key,
so the table holds no source identifier. A key keeps its id forever: re-runs and later
extracts look it up; keys never seen get ``max(id of kind) + 1 + rank``, ranks from a global
sort of the new hashes (range-partitioned sort, per-partition offsets; no driver loop and no
single-partition window).
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.errors import DataQualityError
from mlhops.io import Catalog, merge_into, read_table, table_exists
from mlhops.io.tables.etl import ID_MAP, ID_MAP_KEYS

logger = logging.getLogger(__name__)

MAX_ID = 2**31 - 1
_ROW_BITS = 33


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


def assign_ids(spark: SparkSession, catalog: Catalog, keys: DataFrame, run_id: str) -> DataFrame:
    """Ids for the distinct ``(kind, key_hash)`` pairs of ``keys``; new ones are persisted.

    All id spaces are served by one sort and one MERGE into ``mlhops.id_map``.

    Args:
        spark: the session.
        catalog: table locations.
        keys: frame with ``kind`` (id space: ``"person"``, ``"visit"``, ``"event"``, ...) and
            ``key_hash`` (keyed hash, see :mod:`mlhops.hashing`) columns.
        run_id: recorded on newly assigned ids.

    Returns:
        Frame ``(kind, key_hash, id)`` covering every input pair (materialised).

    Raises:
        DataQualityError: an id space would exceed 32 bits.
    """
    wanted = keys.select("kind", "key_hash").where(F.col("key_hash").isNotNull()).distinct()
    if table_exists(spark, catalog, ID_MAP):
        id_map = read_table(spark, catalog, ID_MAP)
        known = wanted.join(id_map.select("kind", "key_hash", "id"), ["kind", "key_hash"]).localCheckpoint(eager=True)
        bases = {r["kind"]: int(r["m"]) for r in id_map.groupBy("kind").agg(F.max("id").alias("m")).collect()}
        new = wanted.join(known, ["kind", "key_hash"], "left_anti")
    else:
        known = spark.createDataFrame([], "kind string, key_hash string, id int")
        bases = {}
        new = wanted
    ranked, counts = dense_rank_sorted(new.withColumn("_order", F.concat_ws("|", "kind", "key_hash")), "_order", "kind")
    firsts = _first_ranks(counts)
    if any(bases.get(kind, 0) + n > MAX_ID for kind, n in counts.items()):
        raise DataQualityError(f"{ID_MAP}: an id space is exhausted (32-bit OMOP ids)")
    pairs = []
    for kind, first in firsts.items():
        pairs += [F.lit(kind), F.lit(bases.get(kind, 0) + 1 - first).cast("long")]
    shift = F.element_at(F.create_map(*pairs), F.col("kind")) if pairs else F.lit(0).cast("long")
    fresh = ranked.select("kind", "key_hash", (shift + F.col("_rank")).cast("int").alias("id"), F.lit(run_id).alias("run_id"))
    n_new = sum(counts.values())
    if n_new:
        merge_into(fresh, catalog, ID_MAP, keys=list(ID_MAP_KEYS), update=False)
        logger.info("assigned %d new ids", n_new)
    return known.unionByName(fresh.select("kind", "key_hash", "id"))
