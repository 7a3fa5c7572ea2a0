"""The shared loader: a :class:`~mlhops.etl.batch.SourceBatch` -> ``omop.*`` Delta tables.

Order of work: dedupe and reference checks -> date shift -> vocabulary mapping -> ids from
``mlhops.id_map`` -> OMOP rows -> conformance -> MERGE on primary keys -> eras (recomputed
from the merged tables) -> quarantine -> conservation. Re-running the same input leaves every
table's rows unchanged; a later extract merges in (new keys insert, changed rows update).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial, reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.concurrency import run_all
from mlhops.config.model import Settings
from mlhops.errors import DataQualityError
from mlhops.etl import checks, eras, omop_rows
from mlhops.etl.batch import SourceBatch
from mlhops.etl.conservation import Conservation, account
from mlhops.etl.deid import Deidentifier, shift_ts
from mlhops.etl.events import EVENT_TABLES, LINEAGE_COLUMNS
from mlhops.etl.ids import ID_MAP_TABLE, assign_ids
from mlhops.etl.mapping import map_events, mapping_rates, route
from mlhops.etl.quarantine import QUARANTINE_TABLE, quarantine_rows, write_quarantine
from mlhops.io import Catalog, merge_into, read_table, table_exists, table_version, write_overwrite
from mlhops.omop.conform import conform
from mlhops.omop.schema import primary_key
from mlhops.omop.vocabulary import Vocabulary, load_vocabulary

logger = logging.getLogger(__name__)

# OMOP tables whose rows come one-to-one from source rows (their lineage counts as "loaded").
_LINEAGE_TABLES = ("person", "visit_occurrence", "provider", "care_site", "payer_plan_period", "cost", *EVENT_TABLES)


@dataclass
class LoadResult:
    """What :func:`load_batch` wrote and counted."""

    tables: dict[str, int] = field(default_factory=dict)  # table -> Delta version
    rows_written: dict[str, int] = field(default_factory=dict)
    mapping: dict[str, dict[str, float]] = field(default_factory=dict)
    conservation: Conservation | None = None


def _union(frames: list[DataFrame]) -> DataFrame:
    return reduce(lambda a, b: a.unionByName(b), frames)


class _Ids:
    """Id resolution for one batch: hash natural keys, assign all ids in one pass, join back."""

    def __init__(self, spark: SparkSession, catalog: Catalog, deid: Deidentifier, run_id: str) -> None:
        self.spark, self.catalog, self.deid, self.run_id = spark, catalog, deid, run_id
        self.requests: list[DataFrame] = []
        self.ids: DataFrame | None = None

    def request(self, kind: str, df: DataFrame, key: str) -> None:
        self.requests.append(df.select(F.lit(kind).alias("kind"), self.deid.hash(kind, F.col(key)).alias("key_hash")))

    def resolve(self) -> None:
        self.ids = assign_ids(self.spark, self.catalog, _union(self.requests), self.run_id)

    def attach(self, df: DataFrame, kind: str, key: str, out: str) -> DataFrame:
        assert self.ids is not None
        ids = self.ids.where(F.col("kind") == kind).select(F.col("key_hash").alias(f"_h_{out}"), F.col("id").alias(out))
        return df.withColumn(f"_h_{out}", self.deid.hash(kind, F.col(key))).join(ids, f"_h_{out}", "left").drop(f"_h_{out}")


def _known_from_id_map(spark: SparkSession, catalog: Catalog, deid: Deidentifier, kind: str) -> DataFrame | None:
    if not table_exists(spark, catalog, ID_MAP_TABLE):
        return None
    return read_table(spark, catalog, ID_MAP_TABLE).where(F.col("kind") == kind).select("key_hash")


def _flag_unknown(
    spark: SparkSession, catalog: Catalog, deid: Deidentifier, df: DataFrame, key: str, kind: str,
    batch_known: DataFrame, batch_key: str, reason: str,
) -> DataFrame:
    """Flag rows whose key is neither in this batch nor already loaded (``id_map``)."""
    known = batch_known.select(deid.hash(kind, F.col(batch_key)).alias("key_hash"))
    previous = _known_from_id_map(spark, catalog, deid, kind)
    if previous is not None:
        known = known.unionByName(previous)
    hashed = df.withColumn("_kh", deid.hash(kind, F.col(key)))
    return checks.flag_unknown(hashed, "_kh", known, "key_hash", reason, field=key).drop("_kh")


def _checked(flagged: DataFrame, rejects: list[DataFrame], filtered: list[DataFrame]) -> DataFrame:
    """Materialise a flagged frame once; returns its kept rows, collects its rejects/filtered."""
    kept, bad, dropped = checks.split(flagged.localCheckpoint(eager=True))
    rejects.append(bad)
    filtered.append(dropped)
    return kept


def _shift(df: DataFrame, shift: Column, cols: list[str]) -> DataFrame:
    for c in cols:
        df = df.withColumn(c, shift_ts(F.col(c), shift))
    return df


@dataclass(frozen=True)
class _Written:
    """One conformed and merged OMOP table: its version, row count, lineage and rejects."""

    table: str
    version: int | None
    rows: int
    lineage: DataFrame | None
    rejects: DataFrame


def _write(spark: SparkSession, catalog: Catalog, table: str, df: DataFrame) -> _Written:
    """Conform and MERGE one OMOP table."""
    # Materialise once: the table, its rejects and its lineage all derive from this frame.
    conformed = conform(df.localCheckpoint(eager=True), table)
    staged = conformed.table
    n = staged.count()
    key = primary_key(table) or "person_id"
    merge_into(staged, catalog, f"omop.{table}", keys=[key])
    version = table_version(spark, catalog, f"omop.{table}")
    return _Written(table, version, n, conformed.kept_lineage if table in _LINEAGE_TABLES else None, conformed.rejects)


def _write_all(spark: SparkSession, catalog: Catalog, tables: list[tuple[str, DataFrame]], parallelism: int,
               result: LoadResult, lineage: list[DataFrame], rejects: list[DataFrame]) -> None:
    """Write independent OMOP tables, ``parallelism`` at a time (each is its own Delta commit;
    a failure in one is raised after the others finish). Results are recorded in input order."""
    written = run_all([partial(_write, spark, catalog, t, df) for t, df in tables], parallelism, "omop-write")
    for w in written:
        if w.version is not None:
            result.tables[f"omop.{w.table}"] = w.version
        result.rows_written[w.table] = w.rows
        if w.lineage is not None:
            lineage.append(w.lineage)
        rejects.append(w.rejects)


def load_batch(spark: SparkSession, settings: Settings, batch: SourceBatch, run_id: str,
               vocab: Vocabulary | None = None) -> LoadResult:
    """Load one parsed source batch into the OMOP warehouse.

    Args:
        spark: the session.
        settings: validated settings (salt, date shift, standard concepts, vocabulary folder).
        batch: the parsed extract.
        run_id: this run's id (recorded in ``id_map`` and quarantine).
        vocab: vocabulary frames; loaded from ``settings.etl.vocabulary_dir`` when omitted.

    Raises:
        DataQualityError: conservation does not balance (a row was lost: a bug, never data).
    """
    catalog = Catalog(settings.warehouse)
    deid = Deidentifier(settings)
    vocab = vocab or load_vocabulary(spark, settings.etl.vocabulary_dir)
    std = settings.etl.standard_concepts
    types = {"ehr": 32817, "ehr_encounter": 32827, "payer_enrollment": 32880, "death_ehr": 32817,
             "era": 32817, "obs_period_ehr": 32817, **std.get("type", {})}
    result = LoadResult()
    rejects: list[DataFrame] = [batch.rejects]
    filtered: list[DataFrame] = [batch.filtered]
    lineage: list[DataFrame] = []

    # 1. duplicates and references: every check flags rows, each frame is materialised once
    unknown_patient, unknown_encounter = "unknown patient", "unknown encounter"
    persons = _checked(checks.flag_duplicates(batch.persons, ["person_key"]), rejects, filtered)
    visits = checks.flag_duplicates(batch.visits, ["visit_key"])
    visits = _flag_unknown(spark, catalog, deid, visits, "person_key", "person", persons, "person_key", unknown_patient)
    visits = _checked(visits, rejects, filtered)
    events = checks.flag_duplicates(batch.events, ["event_key"])
    events = _flag_unknown(spark, catalog, deid, events, "person_key", "person", persons, "person_key", unknown_patient)
    events = _flag_unknown(spark, catalog, deid, events, "visit_key", "visit", visits, "visit_key", unknown_encounter)
    births = persons.select(F.col("person_key").alias("_pk"), F.to_date("birth_ts").alias("_birth"))
    events = events.join(births, events["person_key"] == births["_pk"], "left")
    events = checks.flag_where(events, F.to_date("start_ts") < F.col("_birth"), "start_ts", "impossible dates: before birth")
    events = _checked(events.drop("_pk", "_birth"), rejects, filtered)
    providers = _checked(checks.flag_duplicates(batch.providers, ["provider_key"]), rejects, filtered)
    care_sites = _checked(checks.flag_duplicates(batch.care_sites, ["care_site_key"]), rejects, filtered)
    payer_periods = checks.flag_duplicates(batch.payer_periods, ["person_key", "payer_key", "start_ts"])
    payer_periods = _flag_unknown(spark, catalog, deid, payer_periods, "person_key", "person", persons, "person_key", unknown_patient)
    payer_periods = _checked(payer_periods, rejects, filtered)
    costs = checks.flag_duplicates(batch.costs, ["cost_key"])
    costs = _flag_unknown(spark, catalog, deid, costs, "visit_key", "visit", visits, "visit_key", unknown_encounter)
    costs = _checked(costs, rejects, filtered)
    locations = batch.locations.dropDuplicates(["location_key"])

    # 2. per-person date shift (same days for every table of a person)
    persons = _shift(persons.withColumn("_shift", deid.shift_days(F.col("person_key"))), F.col("_shift"), ["birth_ts", "death_ts"])
    visits = _shift(visits.withColumn("_shift", deid.shift_days(F.col("person_key"))), F.col("_shift"), ["start_ts", "end_ts"])
    events = _shift(events.withColumn("_shift", deid.shift_days(F.col("person_key"))), F.col("_shift"), ["start_ts", "end_ts"])
    payer_periods = _shift(payer_periods.withColumn("_shift", deid.shift_days(F.col("person_key"))), F.col("_shift"), ["start_ts", "end_ts"])

    # 3. vocabulary mapping
    mapped = map_events(events.drop("_shift"), vocab).localCheckpoint(eager=True)
    result.mapping = mapping_rates(mapped)

    # 4. ids (one sort, one MERGE into id_map)
    ids = _Ids(spark, catalog, deid, run_id)
    ids.request("person", persons, "person_key")
    ids.request("visit", visits, "visit_key")
    ids.request("event", mapped, "event_key")
    ids.request("provider", providers, "provider_key")
    ids.request("care_site", care_sites, "care_site_key")
    ids.request("location", locations, "location_key")
    ids.request("payer_plan_period", payer_periods.withColumn("_k", F.concat_ws("|", "person_key", "payer_key", F.col("start_ts").cast("string"))), "_k")
    ids.request("cost", costs, "cost_key")
    ids.resolve()

    # 5. OMOP rows, conformed and merged (independent tables written concurrently)
    p = ids.attach(persons, "person", "person_key", "person_id")
    p = ids.attach(p, "location", "location_key", "location_id")
    p = ids.attach(p, "provider", "provider_key", "provider_id")
    p = ids.attach(p, "care_site", "care_site_key", "care_site_id")
    p = p.withColumn("person_pseudonym", deid.pseudonym("person", F.col("person_key"))).localCheckpoint(eager=True)
    out: list[tuple[str, DataFrame]] = []
    out.append(("location", ids.attach(locations, "location", "location_key", "location_id")
           .select("location_id", "city", "state", "zip", "county", "latitude", "longitude")))
    cs = ids.attach(ids.attach(care_sites, "care_site", "care_site_key", "care_site_id"), "location", "location_key", "location_id")
    out.append(("care_site", cs.select(*LINEAGE_COLUMNS, "care_site_id", F.substring("care_site_name", 1, 255).alias("care_site_name"),
           F.lit(0).alias("place_of_service_concept_id"), "location_id",
           deid.pseudonym("care_site", F.col("care_site_key")).alias("care_site_source_value"))))
    pr = ids.attach(ids.attach(providers, "provider", "provider_key", "provider_id"), "care_site", "care_site_key", "care_site_id")
    gender = std.get("gender", {})
    out.append(("provider", pr.select(
        *LINEAGE_COLUMNS, "provider_id", F.lit(0).alias("specialty_concept_id"), "care_site_id",
        omop_rows.concept_lookup("gender_source_value", gender).alias("gender_concept_id"),
        deid.pseudonym("provider", F.col("provider_key")).alias("provider_source_value"),
        F.substring("specialty_source_value", 1, 50).alias("specialty_source_value"),
        F.substring("gender_source_value", 1, 50).alias("gender_source_value"),
    )))
    out.append(("person", omop_rows.person(p, gender, std.get("race", {}), std.get("ethnicity", {}))))
    out.append(("death", omop_rows.death(p, types["death_ehr"])))

    v = ids.attach(visits, "visit", "visit_key", "visit_occurrence_id")
    v = ids.attach(v, "person", "person_key", "person_id")
    v = ids.attach(v, "provider", "provider_key", "provider_id")
    v = ids.attach(v, "care_site", "care_site_key", "care_site_id").localCheckpoint(eager=True)
    vo = omop_rows.visit_occurrence(v, std.get("visit", {}), types["ehr_encounter"])
    out.append(("visit_occurrence", vo))
    out.append(("visit_detail", omop_rows.visit_detail(conform(vo, "visit_occurrence").table)))

    ev = ids.attach(mapped, "event", "event_key", "event_id")
    ev = ids.attach(ev, "person", "person_key", "person_id")
    ev = ids.attach(ev, "visit", "visit_key", "visit_occurrence_id")
    ev = ids.attach(ev, "provider", "provider_key", "provider_id").localCheckpoint(eager=True)
    for table, project in omop_rows.EVENT_PROJECTIONS.items():
        out.append((table, project(route(ev, table))))

    out.append(("observation_period",
           omop_rows.observation_period(v, ev, types["obs_period_ehr"])))
    pp = ids.attach(payer_periods.withColumn("_k", F.concat_ws("|", "person_key", "payer_key", F.col("start_ts").cast("string"))),
                    "payer_plan_period", "_k", "payer_plan_period_id")
    pp = ids.attach(pp, "person", "person_key", "person_id")
    out.append(("payer_plan_period", pp.select(
        *LINEAGE_COLUMNS, "payer_plan_period_id", "person_id",
        F.to_date("start_ts").alias("payer_plan_period_start_date"), F.to_date("end_ts").alias("payer_plan_period_end_date"),
        F.lit(0).alias("payer_concept_id"), F.substring("payer_source_value", 1, 50).alias("payer_source_value"),
        F.substring("plan_source_value", 1, 50).alias("plan_source_value"),
        F.substring("sponsor_source_value", 1, 50).alias("sponsor_source_value"),
    )))
    c = ids.attach(ids.attach(costs, "cost", "cost_key", "cost_id"), "visit", "visit_key", "cost_event_id")
    out.append(("cost", c.select(
        *LINEAGE_COLUMNS, "cost_id", "cost_event_id", F.lit("Visit").alias("cost_domain_id"),
        F.lit(types.get("claim", 32810)).alias("cost_type_concept_id"), F.lit(44818668).alias("currency_concept_id"),
        "total_charge", "total_cost", "total_paid", "paid_patient_copay",
    )))

    _write_all(spark, catalog, out, settings.etl.concurrent_jobs, result, lineage, rejects)

    # 6. eras over the merged tables (whole table: eras of a person depend on all their rows) and
    # 7. quarantine and conservation: independent, so side by side when jobs may run concurrently
    def quarantine_and_account() -> Conservation:
        all_rejects = _union(rejects).localCheckpoint(eager=True)
        write_quarantine(quarantine_rows(all_rejects, run_id=run_id, source=batch.source, files=batch.input_files), catalog)
        return account(batch.rows_read, _union(lineage), all_rejects, _union(filtered))

    def eras() -> None:
        _write_eras(spark, catalog, deid, vocab, run_id, result)

    _, result.conservation = run_all([eras, quarantine_and_account], settings.etl.concurrent_jobs, "etl-finish")
    version = table_version(spark, catalog, QUARANTINE_TABLE)
    if version is not None:
        result.tables[QUARANTINE_TABLE] = version
    result.tables[ID_MAP_TABLE] = table_version(spark, catalog, ID_MAP_TABLE) or 0
    if not result.conservation.balanced:
        raise DataQualityError(f"conservation does not balance for {result.conservation.unbalanced()}")
    return result


def _write_eras(spark: SparkSession, catalog: Catalog, deid: Deidentifier, vocab: Vocabulary, run_id: str,
                result: LoadResult) -> None:
    specs = [
        ("condition_era", "condition_occurrence", "condition_concept_id", "condition_era_start_date",
         lambda df: eras.condition_eras(df)),
        ("drug_era", "drug_exposure", "drug_concept_id", "drug_era_start_date", lambda df: eras.drug_eras(df, vocab)),
    ]
    keyed: dict[str, DataFrame] = {}
    for era_table, source_table, concept, start, build in specs:
        if not table_exists(spark, catalog, f"omop.{source_table}"):
            continue
        rows = build(read_table(spark, catalog, f"omop.{source_table}"))
        # Materialised: the eras feed both the id request and the rows written.
        keyed[era_table] = rows.withColumn(
            "_k", F.concat_ws("|", "person_id", concept, F.col(start).cast("string"))
        ).localCheckpoint(eager=True)
    if not keyed:
        return
    # One id assignment (one id_map MERGE) for the eras of both tables.
    ids = assign_ids(spark, catalog, _union([
        k.select(F.lit(t).alias("kind"), deid.hash(t, F.col("_k")).alias("key_hash")) for t, k in keyed.items()
    ]), run_id)
    for era_table, k in keyed.items():
        era_ids = ids.where(F.col("kind") == era_table).select(F.col("key_hash").alias("_h"), F.col("id").alias(f"{era_table}_id"))
        with_ids = k.withColumn("_h", deid.hash(era_table, F.col("_k"))).join(era_ids, "_h").drop("_h", "_k")
        conformed = conform(with_ids, era_table).table.localCheckpoint(eager=True)
        write_overwrite(conformed, catalog, f"omop.{era_table}")
        result.rows_written[era_table] = conformed.count()
        version = table_version(spark, catalog, f"omop.{era_table}")
        if version is not None:
            result.tables[f"omop.{era_table}"] = version
