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
from pyspark.sql import types as T

from mlhops.errors import DataQualityError
from mlhops.io import Catalog, merge_into, read_table, table_exists

logger = logging.getLogger(__name__)

ID_MAP_TABLE = "mlhops.id_map"
ID_MAP_SCHEMA = T.StructType(
    [
        T.StructField("kind", T.StringType(), False),
        T.StructField("key_hash", T.StringType(), False),
        T.StructField("id", T.IntegerType(), False),
        T.StructField("run_id", T.StringType(), False),  # run that first assigned it
    ]
)
MAX_ID = 2**31 - 1
_ROW_BITS = 33


def dense_rank_sorted(df: DataFrame, order_col: str) -> DataFrame:
    """Add ``_rank`` (0-based position in ascending ``order_col`` order) to ``df``.

    ``order_col`` must be unique. Sorting range-partitions the data; rows are then numbered
    by partition offset + row index, with the offsets from one small count job.
    """
    ordered = df.orderBy(order_col).localCheckpoint(eager=True)
    with_pid = ordered.withColumn("_pid", F.spark_partition_id())
    counts = sorted(
        (int(r["_pid"]), int(r["_n"]))
        for r in with_pid.groupBy("_pid").agg(F.count(F.lit(1)).alias("_n")).collect()
    )
    pairs = []
    running = 0
    for pid, n in counts:
        pairs += [F.lit(pid), F.lit(running).cast("long")]
        running += n
    offset = F.element_at(F.create_map(*pairs), F.col("_pid")) if pairs else F.lit(0).cast("long")
    idx = F.monotonically_increasing_id().bitwiseAND(F.lit((1 << _ROW_BITS) - 1))
    return with_pid.withColumn("_rank", offset + idx).drop("_pid")


def assign_ids(spark: SparkSession, catalog: Catalog, keys: DataFrame, run_id: str) -> DataFrame:
    """Ids for the distinct ``(kind, key_hash)`` pairs of ``keys``; new ones are persisted.

    All id spaces are served by one sort and one MERGE into ``mlhops.id_map``.

    Args:
        spark: the session.
        catalog: table locations.
        keys: frame with ``kind`` (id space: ``"person"``, ``"visit"``, ``"event"``, ...) and
            ``key_hash`` (salted hash, see :mod:`mlhops.etl.deid`) columns.
        run_id: recorded on newly assigned ids.

    Returns:
        Frame ``(kind, key_hash, id)`` covering every input pair (materialised).

    Raises:
        DataQualityError: an id space would exceed 32 bits.
    """
    wanted = keys.select("kind", "key_hash").where(F.col("key_hash").isNotNull()).distinct()
    if table_exists(spark, catalog, ID_MAP_TABLE):
        id_map = read_table(spark, catalog, ID_MAP_TABLE)
        known = wanted.join(id_map.select("kind", "key_hash", "id"), ["kind", "key_hash"]).localCheckpoint(eager=True)
        bases = {r["kind"]: int(r["m"]) for r in id_map.groupBy("kind").agg(F.max("id").alias("m")).collect()}
        new = wanted.join(known, ["kind", "key_hash"], "left_anti")
    else:
        known = spark.createDataFrame([], "kind string, key_hash string, id int")
        bases = {}
        new = wanted
    ranked = dense_rank_sorted(new.withColumn("_order", F.concat_ws("|", "kind", "key_hash")), "_order")
    firsts = {r["kind"]: int(r["f"]) for r in ranked.groupBy("kind").agg(F.min("_rank").alias("f")).collect()}
    pairs = []
    for kind, first in firsts.items():
        pairs += [F.lit(kind), F.lit(bases.get(kind, 0) + 1 - first).cast("long")]
    shift = F.element_at(F.create_map(*pairs), F.col("kind")) if pairs else F.lit(0).cast("long")
    fresh = ranked.select(
        "kind", "key_hash", (shift + F.col("_rank")).alias("_id"), F.lit(run_id).alias("run_id")
    ).localCheckpoint(eager=True)
    top = fresh.agg(F.max("_id").alias("m"), F.count(F.lit(1)).alias("n")).first()
    if top and top["m"] is not None and int(top["m"]) > MAX_ID:
        raise DataQualityError(f"{ID_MAP_TABLE}: an id space is exhausted (32-bit OMOP ids)")
    fresh = fresh.select("kind", "key_hash", F.col("_id").cast("int").alias("id"), "run_id")
    if top and int(top["n"]):
        merge_into(fresh, catalog, ID_MAP_TABLE, keys=["kind", "key_hash"], update=False)
        logger.info("assigned %d new ids", int(top["n"]))
    return known.unionByName(fresh.select("kind", "key_hash", "id"))
