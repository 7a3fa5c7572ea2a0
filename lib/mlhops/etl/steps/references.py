"""Loader step 1: duplicates, references and impossible dates.

Every check flags rows (:mod:`mlhops.etl.checks`); each frame is materialised once and its
rejected (quarantined) and filtered rows go to the ledger. A reference is known when its key
is in this batch or already in ``mlhops.id_map`` (loaded by an earlier run).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.etl import checks
from mlhops.etl.batch import SourceBatch
from mlhops.etl.deid import Deidentifier
from mlhops.etl.steps.conservation import Ledger
from mlhops.io import Catalog, read_table, table_exists
from mlhops.io.tables.etl import ID_MAP

UNKNOWN_PATIENT = "unknown patient"
UNKNOWN_ENCOUNTER = "unknown encounter"
BEFORE_BIRTH = "impossible dates: before birth"


@dataclass(frozen=True)
class Entities:
    """The batch's frames that passed the checks (same columns as the batch's)."""

    persons: DataFrame
    visits: DataFrame
    events: DataFrame
    providers: DataFrame
    care_sites: DataFrame
    locations: DataFrame
    payer_periods: DataFrame
    costs: DataFrame


class _Known:
    """Flags rows whose key is neither in this batch nor already loaded.

    Keys are compared as they are: only the distinct keys missing from the batch are hashed (once
    each) to be looked up in ``id_map``, never every row (the hash is a Python UDF)."""

    def __init__(self, spark: SparkSession, catalog: Catalog, deid: Deidentifier) -> None:
        self.spark, self.catalog, self.deid = spark, catalog, deid

    def _loaded(self, kind: str) -> DataFrame | None:
        if not table_exists(self.spark, self.catalog, ID_MAP):
            return None
        return read_table(self.spark, self.catalog, ID_MAP).where(F.col("kind") == kind).select("key_hash")

    def flag(self, df: DataFrame, key: str, kind: str, batch_known: DataFrame, batch_key: str, reason: str) -> DataFrame:
        known = batch_known.select(F.col(batch_key).alias("_ref"))
        previous = self._loaded(kind)
        if previous is not None:
            outside = (df.select(F.col(key).alias("_ref")).where(F.col("_ref").isNotNull()).distinct()
                       .join(known, "_ref", "left_anti"))
            loaded = (outside.withColumn("key_hash", self.deid.hash(kind, F.col("_ref")))
                      .join(previous, "key_hash", "left_semi").select("_ref"))
            known = known.unionByName(loaded)
        return checks.flag_unknown(df, key, known, "_ref", reason)


def _events(events: DataFrame, persons: DataFrame, visits: DataFrame, known: _Known) -> DataFrame:
    events = checks.flag_duplicates(events, ["event_key"])
    events = known.flag(events, "person_key", "person", persons, "person_key", UNKNOWN_PATIENT)
    events = known.flag(events, "visit_key", "visit", visits, "visit_key", UNKNOWN_ENCOUNTER)
    births = persons.select(F.col("person_key").alias("_pk"), F.to_date("birth_ts").alias("_birth"))
    events = events.join(births, events["person_key"] == births["_pk"], "left")
    events = checks.flag_where(events, F.to_date("start_ts") < F.col("_birth"), "start_ts", BEFORE_BIRTH)
    return events.drop("_pk", "_birth")


def check_rows(spark: SparkSession, catalog: Catalog, deid: Deidentifier, batch: SourceBatch,
               ledger: Ledger) -> Entities:
    """The batch's rows that pass the checks; the others are recorded in ``ledger``."""
    known = _Known(spark, catalog, deid)
    persons = ledger.checked(checks.flag_duplicates(batch.persons, ["person_key"]))
    visits = checks.flag_duplicates(batch.visits, ["visit_key"])
    visits = ledger.checked(known.flag(visits, "person_key", "person", persons, "person_key", UNKNOWN_PATIENT))
    events = ledger.checked(_events(batch.events, persons, visits, known))
    providers = ledger.checked(checks.flag_duplicates(batch.providers, ["provider_key"]))
    care_sites = ledger.checked(checks.flag_duplicates(batch.care_sites, ["care_site_key"]))
    payer_periods = checks.flag_duplicates(batch.payer_periods, ["person_key", "payer_key", "start_ts"])
    payer_periods = ledger.checked(
        known.flag(payer_periods, "person_key", "person", persons, "person_key", UNKNOWN_PATIENT))
    costs = checks.flag_duplicates(batch.costs, ["cost_key"])
    costs = ledger.checked(known.flag(costs, "visit_key", "visit", visits, "visit_key", UNKNOWN_ENCOUNTER))
    locations = batch.locations.dropDuplicates(["location_key"])
    return Entities(persons=persons, visits=visits, events=events, providers=providers, care_sites=care_sites,
                    locations=locations, payer_periods=payer_periods, costs=costs)
