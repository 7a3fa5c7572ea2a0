"""An OMOP CDM export's own ids -> this warehouse's ids, through ``mlhops.id_map``.

An export's ids are its site's ids: loaded as they are, ``person_id`` 7 of the export would
overwrite ``person_id`` 7 loaded from Synthea or FHIR, and ids beyond 32 bits (64-bit, negative
or hashed ids, common in real exports) would not fit the CDM's integer columns. So every id of an
export is a *key*, never an id: any non-empty value (integer of any size, negative, or a string)
is hashed with the run's keyed hasher as ``omop|<namespace>|<value>`` in an id space (the
``id_map`` kind) and replaced by that key's id, assigned like every other source's ids
(:func:`mlhops.etl.ids.assign_ids`, one pass for all tables). The same value in a primary key and
in a foreign key gives the same id, so every reference of the export stays consistent; a
re-load of the same export (or a later extract of the same CDM database) finds the same ids.

Id spaces follow the rest of the warehouse, so an export's ids never coincide with ids another
source wrote into the same table: persons and observation periods share ``person`` (the
warehouse numbers a person's observation period with the person's id), visits and visit details
``visit``, the clinical event tables ``event``, eras and the other entities their own space.

The clinical event tables share one key namespace (``event``): references whose target table is
given only by a field concept (``measurement_event_id``, ``observation_event_id``,
``note_event_id``, ``episode_event.event_id``, ``note_nlp.note_id``) then resolve without it,
exactly as the export resolves them (OMOP ids are unique per table, and an export whose event
tables share an id value gets one event id for both here as well). ``cost.cost_event_id`` and
``fact_relationship.fact_id_*`` name their target's domain and resolve to the visit or person
space when it is a visit or a person, else to the event space.

Vocabulary tables keep their ids (concept ids are global). ``cdm_source`` has none.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.frames import union_all
from mlhops.etl.batch import empty_frame
from mlhops.etl.deid import Deidentifier
from mlhops.etl.ids import assign_ids
from mlhops.io import Catalog
from mlhops.omop import schema as cdm

KEY_PREFIX = "omop"

_EVENT_TABLES = ("condition_occurrence", "drug_exposure", "procedure_occurrence", "device_exposure",
                 "measurement", "observation", "specimen", "note")
# Table -> (id space, key namespace) of the ids of its rows.
ENTITY_SPACES: dict[str, tuple[str, str]] = {
    "person": ("person", "person"),
    "observation_period": ("person", "observation_period"),
    "visit_occurrence": ("visit", "visit_occurrence"),
    "visit_detail": ("visit", "visit_detail"),
    **{t: ("event", "event") for t in _EVENT_TABLES},
    "note_nlp": ("note_nlp", "note_nlp"),
    "provider": ("provider", "provider"),
    "care_site": ("care_site", "care_site"),
    "location": ("location", "location"),
    "payer_plan_period": ("payer_plan_period", "payer_plan_period"),
    "cost": ("cost", "cost"),
    "condition_era": ("condition_era", "condition_era"),
    "drug_era": ("drug_era", "drug_era"),
    "dose_era": ("dose_era", "dose_era"),
    "episode": ("episode", "episode"),
    "metadata": ("metadata", "metadata"),
}
_EVENT = ENTITY_SPACES["condition_occurrence"]
# References whose target the spec does not declare: the event tables (module docstring).
_UNDECLARED: dict[str, dict[str, str]] = {
    "measurement": {"measurement_event_id": "condition_occurrence"},
    "observation": {"observation_event_id": "condition_occurrence"},
    "note": {"note_event_id": "condition_occurrence"},
    "episode_event": {"event_id": "condition_occurrence"},
    "note_nlp": {"note_id": "note"},
    "cohort": {"subject_id": "person"},  # a cohort's subjects are persons
}
# OMOP vocabulary Domain concepts (fact_relationship.domain_concept_id_*) of non-event targets.
_DOMAIN_CONCEPT_VISIT, _DOMAIN_CONCEPT_PERSON = 8, 56


@dataclass(frozen=True)
class IdColumn:
    """One id column of a table: its id space and key namespace, as a column expression pair
    (rows may choose between spaces, e.g. a cost row of a visit or of an event)."""

    name: str
    space: Column
    namespace: Column
    spaces: tuple[str, ...]  # the spaces ``space`` can take


def _fixed(name: str, target: str) -> IdColumn:
    space, ns = ENTITY_SPACES[target]
    return IdColumn(name, F.lit(space), F.lit(ns), (space,))


def _by_domain(name: str, is_visit: Column, is_person: Column) -> IdColumn:
    visit, person = ENTITY_SPACES["visit_occurrence"], ENTITY_SPACES["person"]
    space = F.when(is_visit, F.lit(visit[0])).when(is_person, F.lit(person[0])).otherwise(F.lit(_EVENT[0]))
    ns = F.when(is_visit, F.lit(visit[1])).when(is_person, F.lit(person[1])).otherwise(F.lit(_EVENT[1]))
    return IdColumn(name, space, ns, (visit[0], person[0], _EVENT[0]))


def id_columns(table: str) -> list[IdColumn]:
    """The columns of ``table`` that hold ids of the export's rows (primary and foreign keys,
    declared by the CDM spec or listed here); empty for vocabulary tables."""
    out: list[IdColumn] = []
    for f in cdm.fields(table):
        if f.datatype.lower() != "integer":
            continue
        if f.primary_key and table in ENTITY_SPACES:
            out.append(_fixed(f.name, table))
        elif f.fk_table and f.fk_table.lower() in ENTITY_SPACES:
            out.append(_fixed(f.name, f.fk_table.lower()))
        elif f.name in _UNDECLARED.get(table, {}):
            out.append(_fixed(f.name, _UNDECLARED[table][f.name]))
    if table == "cost":
        domain = F.lower(F.col("cost_domain_id"))
        out.append(_by_domain("cost_event_id", domain == "visit", domain == "person"))
    if table == "fact_relationship":
        for i in (1, 2):
            concept = F.col(f"domain_concept_id_{i}")
            out.append(_by_domain(f"fact_id_{i}", concept == _DOMAIN_CONCEPT_VISIT, concept == _DOMAIN_CONCEPT_PERSON))
    return out


def is_id_column(table: str, column: str) -> bool:
    """Whether ``column`` of ``table`` holds an export id (read as a key, any value)."""
    return any(c.name == column for c in id_columns(table))


KEY_COLUMN_PREFIX = "_idkey_"


def export_key(namespace: Column, value: Column) -> Column:
    """An export id's key as the id map hashes it: ``omop|<namespace>|<value>``."""
    return F.concat_ws("|", F.lit(KEY_PREFIX), namespace, value.cast("string"))


def _key_hash(deid: Deidentifier, c: IdColumn) -> Column:
    """Keyed hash of the key ``omop|<namespace>|<value>`` in the column's id space. The hasher
    takes a literal kind, so a column that chooses its space per row hashes under each."""
    key = export_key(c.namespace, F.col(c.name))
    if len(c.spaces) == 1:
        return F.when(F.col(c.name).isNotNull(), deid.hash(c.spaces[0], key))
    hashed = F.lit(None).cast("string")
    for space in c.spaces:
        hashed = F.when(c.space == F.lit(space), deid.hash(space, key)).otherwise(hashed)
    return F.when(F.col(c.name).isNotNull(), hashed)


def with_id_keys(deid: Deidentifier, table: str, frame: DataFrame) -> DataFrame:
    """``frame`` (one export table, id columns still the export's values) with each id column
    replaced by a null id and a ``_idkey_<column>`` struct ``(kind, key_hash)``: the export's
    own id value is gone from here on."""
    cols = id_columns(table)
    if not cols:
        return frame
    keyed = frame.select("*", *[
        F.when(F.col(c.name).isNotNull(), F.struct(c.space.alias("kind"), _key_hash(deid, c).alias("key_hash")))
        .alias(f"{KEY_COLUMN_PREFIX}{c.name}") for c in cols
    ])
    return keyed.select(*[
        F.lit(None).cast("int").alias(n) if is_id_column(table, n) else F.col(n) for n in frame.columns
    ], *[f"{KEY_COLUMN_PREFIX}{c.name}" for c in cols])


def _key_columns(frame: DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith(KEY_COLUMN_PREFIX)]


def resolve_ids(spark: SparkSession, catalog: Catalog, tables: dict[str, DataFrame],
                run_id: str) -> dict[str, DataFrame]:
    """Fill every id column of ``tables`` (frames of :func:`with_id_keys`) with this
    warehouse's id of its key and drop the key columns.

    All keys of all tables are assigned in one :func:`~mlhops.etl.ids.assign_ids` pass (new ones
    recorded with ``run_id``). Other columns pass through.
    """
    requests = [
        frame.select(F.col(f"{k}.kind").alias("kind"), F.col(f"{k}.key_hash").alias("key_hash"))
        for frame in tables.values() for k in _key_columns(frame)
    ]
    if not requests:
        return dict(tables)
    ids = assign_ids(spark, catalog, union_all(requests), run_id)
    out: dict[str, DataFrame] = {}
    for table, frame in tables.items():
        for k in _key_columns(frame):
            column = k[len(KEY_COLUMN_PREFIX):]
            lookup = ids.select(F.col("kind").alias(f"{k}_kind"), F.col("key_hash").alias(f"{k}_hash"),
                                F.col("id").alias(f"{k}_id"))
            frame = frame.join(
                lookup, (F.col(f"{k}.kind") == F.col(f"{k}_kind")) & (F.col(f"{k}.key_hash") == F.col(f"{k}_hash")),
                "left",
            ).withColumn(column, F.col(f"{k}_id")).drop(k, f"{k}_kind", f"{k}_hash", f"{k}_id")
        out[table] = frame
    return out


def resolve_export(spark: SparkSession, catalog: Catalog, tables: dict[str, DataFrame],
                   run_id: str) -> tuple[dict[str, DataFrame], DataFrame]:
    """Ids resolved (:func:`resolve_ids`), then each table conformed to CDM v5.4.

    Returns:
        the conformant frames by table and the rows conformance rejected (lineage, field,
        reason; a required id can only be missing when the export left it empty, which the
        reader has already quarantined, so this is normally empty).
    """
    # Imported here: mlhops.omop.conform builds Spark literals at import time.
    from mlhops.omop.conform import conform

    resolved = resolve_ids(spark, catalog, tables, run_id)
    conformed = {table: conform(frame, table) for table, frame in resolved.items()}
    rejects = union_all([empty_frame(spark, "rejects"), *[c.rejects for c in conformed.values()]])
    return {table: c.table for table, c in conformed.items()}, rejects

