"""Loader step 4: OMOP ids for every natural key of the batch (keyed hashes -> ``mlhops.id_map``,
all kinds in one sort and one MERGE), attached back to the frames by key.

Each distinct key is hashed once (the keyed hash is a Python UDF: the salt stays out of every
query plan, see :mod:`mlhops.hashing`), and the ids are attached by joining on the source key
itself. Hashing every row of every frame instead sent each event through Python five times (its
own key when requested, then its event, person, visit and provider keys when attached), and the
job attaching the events' ids was the largest of a run (docs/benchmarks.md). Kinds with few keys
(persons, providers, care sites) are broadcast, so the wide event frame is shuffled once for its
own key only. The source keys stay inside the run's materialised frames; only their hashes are
written (``id_map``).
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.etl.deid import Deidentifier
from mlhops.etl.ids import assign_ids
from mlhops.etl.steps.references import Entities
from mlhops.frames import union_all
from mlhops.io import Catalog


# Kinds with at most this many keys in a batch are joined by broadcast (about 64 bytes a key).
BROADCAST_IDS = 500_000


def payer_period_key() -> Column:
    """Natural key of a payer period (the source has no id for it)."""
    return F.concat_ws("|", "person_key", "payer_key", F.col("start_ts").cast("string"))


def ids_by_key(spark: SparkSession, catalog: Catalog, deid: Deidentifier, run_id: str,
               requests: Sequence[tuple[str, DataFrame, Column]]) -> DataFrame:
    """``(kind, key, id)`` for the distinct non-null keys of ``requests`` (materialised).

    Args:
        requests: ``(kind, frame, key)``: the values of column expression ``key`` in ``frame``
            need ids of kind ``kind`` (a kind may be requested from several frames).

    Each distinct ``(kind, key)`` is hashed once, and all kinds get their ids in one
    :func:`~mlhops.etl.ids.assign_ids` pass (one sort, one ``id_map`` MERGE). ``key`` is the key
    as a string, as it was hashed.
    """
    by_kind: dict[str, list[DataFrame]] = {}
    for kind, df, key in requests:
        by_kind.setdefault(kind, []).append(df.select(key.cast("string").alias("key")))
    hashed = union_all([
        union_all(frames).where(F.col("key").isNotNull()).distinct()
        .select(F.lit(kind).alias("kind"), "key", deid.hash(kind, F.col("key")).alias("key_hash"))
        for kind, frames in by_kind.items()
    ]).localCheckpoint(eager=True)
    ids = assign_ids(spark, catalog, hashed, run_id)
    return hashed.join(ids, ["kind", "key_hash"]).select("kind", "key", "id").localCheckpoint(eager=True)


def attach_id(df: DataFrame, ids: DataFrame, kind: str, key: Column, out: str, broadcast: bool = False) -> DataFrame:
    """``df`` with column ``out``: the id of kind ``kind`` of its ``key`` (null when the key is
    null or has none), from an :func:`ids_by_key` frame; ``broadcast``: the kind's ids are few
    enough to send to every task (``df`` is then not shuffled)."""
    ref = ids.where(F.col("kind") == kind).select(F.col("key").alias(f"_k_{out}"), F.col("id").alias(out))
    ref = F.broadcast(ref) if broadcast else ref
    return df.join(ref, key.cast("string") == ref[f"_k_{out}"], "left").drop(f"_k_{out}")


class BatchIds:
    """Id resolution for one batch: the natural keys of every kind, one assignment, joined back."""

    def __init__(self, spark: SparkSession, catalog: Catalog, deid: Deidentifier, run_id: str) -> None:
        self.spark, self.catalog, self.deid, self.run_id = spark, catalog, deid, run_id
        self.requests: list[tuple[str, DataFrame, Column]] = []
        self.ids: DataFrame | None = None
        self.counts: dict[str, int] = {}

    def request(self, kind: str, df: DataFrame, key: str) -> None:
        self.requests.append((kind, df, F.col(key)))

    def resolve(self) -> None:
        self.ids = ids_by_key(self.spark, self.catalog, self.deid, self.run_id, self.requests)
        self.counts = {r["kind"]: int(r["n"]) for r in self.ids.groupBy("kind").agg(F.count(F.lit(1)).alias("n")).collect()}

    def attach(self, df: DataFrame, kind: str, key: str, out: str) -> DataFrame:
        """``df`` with column ``out``: the id of kind ``kind`` of its ``key``."""
        assert self.ids is not None
        return attach_id(df, self.ids, kind, F.col(key), out, self.counts.get(kind, 0) <= BROADCAST_IDS)


def resolve_ids(spark: SparkSession, catalog: Catalog, deid: Deidentifier, run_id: str, entities: Entities,
                mapped: DataFrame) -> BatchIds:
    """Ids of every person, visit, event, provider, care site, location, payer period and cost."""
    ids = BatchIds(spark, catalog, deid, run_id)
    ids.request("person", entities.persons, "person_key")
    ids.request("visit", entities.visits, "visit_key")
    ids.request("event", mapped, "event_key")
    ids.request("provider", entities.providers, "provider_key")
    ids.request("care_site", entities.care_sites, "care_site_key")
    ids.request("location", entities.locations, "location_key")
    ids.request("payer_plan_period", entities.payer_periods.withColumn("_k", payer_period_key()), "_k")
    ids.request("cost", entities.costs, "cost_key")
    ids.resolve()
    return ids
