"""Loader step 4: OMOP ids for every natural key of the batch (keyed hashes -> ``mlhops.id_map``,
all kinds in one sort and one MERGE), attached back to the frames by key."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.frames import union_all
from mlhops.etl.deid import Deidentifier
from mlhops.etl.ids import assign_ids
from mlhops.etl.steps.references import Entities
from mlhops.io import Catalog


def payer_period_key() -> Column:
    """Natural key of a payer period (the source has no id for it)."""
    return F.concat_ws("|", "person_key", "payer_key", F.col("start_ts").cast("string"))


class BatchIds:
    """Id resolution for one batch: hash natural keys, assign all ids in one pass, join back."""

    def __init__(self, spark: SparkSession, catalog: Catalog, deid: Deidentifier, run_id: str) -> None:
        self.spark, self.catalog, self.deid, self.run_id = spark, catalog, deid, run_id
        self.requests: list[DataFrame] = []
        self.ids: DataFrame | None = None

    def request(self, kind: str, df: DataFrame, key: str) -> None:
        self.requests.append(df.select(F.lit(kind).alias("kind"), self.deid.hash(kind, F.col(key)).alias("key_hash")))

    def resolve(self) -> None:
        self.ids = assign_ids(self.spark, self.catalog, union_all(self.requests), self.run_id)

    def attach(self, df: DataFrame, kind: str, key: str, out: str) -> DataFrame:
        """``df`` with column ``out``: the id of kind ``kind`` of its ``key``."""
        assert self.ids is not None
        ids = self.ids.where(F.col("kind") == kind).select(F.col("key_hash").alias(f"_h_{out}"), F.col("id").alias(out))
        return df.withColumn(f"_h_{out}", self.deid.hash(kind, F.col(key))).join(ids, f"_h_{out}", "left").drop(f"_h_{out}")


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
