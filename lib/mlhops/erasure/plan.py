"""What an erasure removes: the persons' keys, one delete condition per table, the versions to flag.

Persons are found through ``mlhops.id_map`` with the warehouse's keyed hasher (kind ``person``
of the source's natural key, :mod:`mlhops.erasure.keys`). From their OMOP ``person_id`` follow:

* their visits (``visit_occurrence_id`` in ``omop.visit_occurrence``, the feature table, the labels);
* the keyed hashes the platform writes instead of ids (``person_hash``, ``visit_hash``: the same
  :class:`~mlhops.hashing.KeyedHasher` kinds as scoring, ``person_id`` and ``visit_occurrence_id``);
* every OMOP table with ``person_id`` (else ``visit_occurrence_id``), and the rows linked to
  theirs without a person column: ``cost`` (by event and domain), ``fact_relationship``
  (person and visit facts), ``note_nlp`` (their notes), ``episode_event`` (their episodes),
  ``location`` (their addresses, when no other person or care site uses them);
* every platform table of the catalog (``mlhops.detector_references`` included), by whichever of
  ``person_id``, ``person_hash``, ``visit_occurrence_id``, ``visit_hash`` it has;
* ``mlhops.id_map``: their person keys and the ids of every row removed (visits, events, ...).

The versions to flag are read before anything is deleted: drift detector versions whose
reference or fit rows hold one of the persons, and registered models whose training set did,
by the training rule (:func:`mlhops.models.training.training_frame`: a labelled visit of the
task with its label known before the version's ``mlhops.labels_as_of``).

The keys stay in memory (never logged, never written); only counts leave this module.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import TYPE_CHECKING, Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.erasure.keys import PERSON_KIND, person_keys
from mlhops.erasure.tables import ERASURES
from mlhops.etl.sources.omop_cdm_ids import ENTITY_SPACES
from mlhops.io import Catalog, read_table, table_exists
from mlhops.io.tables import all_tables
from mlhops.io.tables.etl import ID_MAP, VISIT_OCCURRENCE, omop_table
from mlhops.io.tables.models import LABELS
from mlhops.io.tables.monitoring import DETECTOR_REFERENCES, FEATURES

if TYPE_CHECKING:
    from mlhops.hashing import KeyedHasher

logger = logging.getLogger(__name__)

# OMOP domain concept ids of fact_relationship facts (vocabulary "Domain").
PERSON_DOMAIN_CONCEPT = 56
VISIT_DOMAIN_CONCEPT = 8
# Hash kinds the platform uses for its keys (mlhops.models.scoring, evaluation).
PERSON_HASH_KIND = "person_id"
VISIT_HASH_KIND = "visit_occurrence_id"
# Tables an erasure plans specially (or never touches: the audit record itself).
_SPECIAL = {ID_MAP, ERASURES, omop_table("cost"), omop_table("fact_relationship"), omop_table("note_nlp"),
            omop_table("episode_event"), omop_table("location")}


@dataclass(frozen=True)
class Scope:
    """The erased persons' keys (in memory only)."""

    key_hashes: tuple[str, ...]
    persons: tuple[int, ...]
    person_hashes: tuple[str, ...]
    visits: tuple[int, ...]
    visit_hashes: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.persons


@dataclass(frozen=True)
class TableDeletion:
    """Rows of one table that go: ``condition`` over ``columns`` (all must exist to apply it)."""

    table: str
    condition: Column = field(compare=False)
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Flag:
    """A registered version trained (or fitted) on erased persons, and on how many."""

    model_name: str
    version: str
    kind: str  # "drift" | "model"
    n_persons: int


@dataclass(frozen=True)
class ErasurePlan:
    """Everything an erasure does, decided before it deletes anything."""

    source: str
    n_ids: int
    scope: Scope
    deletions: tuple[TableDeletion, ...]
    flags: tuple[Flag, ...]


def _ints(df: DataFrame, column: str) -> tuple[int, ...]:
    return tuple(sorted({int(r[0]) for r in df.select(column).where(F.col(column).isNotNull()).distinct().collect()}))


def _strings(df: DataFrame, column: str) -> tuple[str, ...]:
    return tuple(sorted({str(r[0]) for r in df.select(column).where(F.col(column).isNotNull()).distinct().collect()}))


def _in(column: str, values: Sequence[Any]) -> Column:
    return F.col(column).isin(list(values)) if values else F.lit(False)


def _any(conditions: Sequence[Column]) -> Column:
    return reduce(lambda a, b: a | b, conditions) if conditions else F.lit(False)


def _exists(spark: SparkSession, catalog: Catalog, name: str) -> bool:
    return table_exists(spark, catalog, name)


def resolve_scope(spark: SparkSession, catalog: Catalog, hasher: KeyedHasher, source: str, ids: Sequence[str]) -> Scope:
    """The persons of ``ids`` in this warehouse, and their visits and hashed keys."""
    keys = person_keys(source, ids)
    if not _exists(spark, catalog, ID_MAP):
        return Scope((), (), (), (), ())
    wanted = spark.createDataFrame([(k,) for k in keys], "key string").select(
        hasher.hash(PERSON_KIND, F.col("key")).alias("key_hash"))
    wanted = wanted.localCheckpoint(eager=True)  # the hash is a Python UDF: computed once, before the join
    found = read_table(spark, catalog, ID_MAP).where(F.col("kind") == PERSON_KIND).join(wanted, "key_hash")
    found = found.select("key_hash", F.col("id").cast("long").alias("person_id")).localCheckpoint(eager=True)
    persons = _ints(found, "person_id")
    if not persons:
        return Scope((), (), (), (), ())
    visits: set[int] = set()
    for table in (VISIT_OCCURRENCE, FEATURES, LABELS):
        if _exists(spark, catalog, table):
            df = read_table(spark, catalog, table)
            if {"person_id", "visit_occurrence_id"} <= set(df.columns):
                visits.update(_ints(df.where(_in("person_id", persons)), "visit_occurrence_id"))
    person_df = spark.createDataFrame([(p,) for p in persons], "person_id long")
    visit_df = spark.createDataFrame([(v,) for v in sorted(visits)], "visit_occurrence_id long")
    return Scope(
        key_hashes=_strings(found, "key_hash"),
        persons=persons,
        person_hashes=_strings(person_df.select(hasher.hash(PERSON_HASH_KIND, F.col("person_id")).alias("h")), "h"),
        visits=tuple(sorted(visits)),
        visit_hashes=_strings(visit_df.select(hasher.hash(VISIT_HASH_KIND, F.col("visit_occurrence_id")).alias("h")), "h")
        if visits else (),
    )


def key_condition(columns: Sequence[str], scope: Scope) -> tuple[Column, tuple[str, ...]] | None:
    """The generic rule: any person or visit key column of the table matches the scope."""
    rules = (("person_id", scope.persons), ("person_hash", scope.person_hashes),
             ("visit_occurrence_id", scope.visits), ("visit_hash", scope.visit_hashes))
    used = [(c, v) for c, v in rules if c in columns]
    if not used:
        return None
    return _any([_in(c, v) for c, v in used]), tuple(c for c, _ in used)


def _linked(spark: SparkSession, catalog: Catalog, generic: dict[str, TableDeletion]) -> tuple[
        list[TableDeletion], dict[str, set[int]]]:
    """Rows linked to the persons' rows without a person column, and the id_map ids to remove
    (by id kind) of every row going."""
    ids: dict[str, set[int]] = {}
    removed_pk: dict[str, tuple[int, ...]] = {}
    for name, d in generic.items():
        table = name.partition(".")[2]
        if not name.startswith("omop.") or table not in ENTITY_SPACES:
            continue
        spec = all_tables()[name]
        if len(spec.keys) != 1:
            continue
        removed_pk[table] = _ints(read_table(spark, catalog, name).where(d.condition), spec.keys[0])
        ids.setdefault(ENTITY_SPACES[table][0], set()).update(removed_pk[table])
    out: list[TableDeletion] = []

    def add(table: str, condition: Column, columns: tuple[str, ...], pk: str | None = None) -> None:
        name = omop_table(table)
        if not _exists(spark, catalog, name):
            return
        out.append(TableDeletion(name, condition, columns))
        if pk is not None and table in ENTITY_SPACES:
            ids.setdefault(ENTITY_SPACES[table][0], set()).update(
                _ints(read_table(spark, catalog, name).where(condition), pk))

    events = sorted(ids.get("event", set()))
    visits = sorted(ids.get("visit", set()))
    persons = sorted(ids.get("person", set()))
    add("cost", (((F.col("cost_domain_id") == "Visit") & _in("cost_event_id", visits))
                 | ((F.col("cost_domain_id") != "Visit") & _in("cost_event_id", events))
                 | _in("payer_plan_period_id", sorted(ids.get("payer_plan_period", set())))),
        ("cost_domain_id", "cost_event_id", "payer_plan_period_id"), "cost_id")
    add("fact_relationship", _any([
        (F.col(f"domain_concept_id_{i}") == PERSON_DOMAIN_CONCEPT) & _in(f"fact_id_{i}", persons) for i in (1, 2)
    ] + [(F.col(f"domain_concept_id_{i}") == VISIT_DOMAIN_CONCEPT) & _in(f"fact_id_{i}", visits) for i in (1, 2)]),
        ("domain_concept_id_1", "fact_id_1", "domain_concept_id_2", "fact_id_2"))
    add("note_nlp", _in("note_id", removed_pk.get("note", ())), ("note_id",), "note_nlp_id")
    add("episode_event", _in("episode_id", removed_pk.get("episode", ())), ("episode_id",))
    out += _orphan_locations(spark, catalog, generic, ids)
    return out, ids


def _orphan_locations(spark: SparkSession, catalog: Catalog, generic: dict[str, TableDeletion],
                      ids: dict[str, set[int]]) -> list[TableDeletion]:
    """The erased persons' locations (addresses) that no remaining person or care site uses."""
    person, location = omop_table("person"), omop_table("location")
    if person not in generic or not _exists(spark, catalog, location):
        return []
    people = read_table(spark, catalog, person)
    theirs = set(_ints(people.where(generic[person].condition), "location_id"))
    still = set(_ints(people.where(~generic[person].condition), "location_id"))
    if _exists(spark, catalog, omop_table("care_site")):
        still |= set(_ints(read_table(spark, catalog, omop_table("care_site")), "location_id"))
    gone = sorted(theirs - still)
    ids.setdefault(ENTITY_SPACES["location"][0], set()).update(gone)
    return [TableDeletion(location, _in("location_id", gone), ("location_id",))]


def id_map_deletion(scope: Scope, ids: dict[str, set[int]]) -> TableDeletion:
    """The persons' keys and the ids of every removed row, out of ``mlhops.id_map``."""
    parts = [(F.col("kind") == PERSON_KIND) & _in("key_hash", scope.key_hashes)]
    parts += [(F.col("kind") == kind) & _in("id", sorted(values)) for kind, values in sorted(ids.items()) if values]
    return TableDeletion(ID_MAP, _any(parts), ("kind", "key_hash", "id"))


def plan_deletions(spark: SparkSession, catalog: Catalog, scope: Scope) -> tuple[TableDeletion, ...]:
    """One deletion per table holding a key of the scope (tables without a matching row included:
    verification searches them all)."""
    generic: dict[str, TableDeletion] = {}
    for name in sorted(all_tables()):
        if name in _SPECIAL or not _exists(spark, catalog, name):
            continue
        columns = read_table(spark, catalog, name).columns
        rule = key_condition(columns, scope)
        if rule is not None:
            generic[name] = TableDeletion(name, rule[0], rule[1])
    linked, ids = _linked(spark, catalog, generic)
    out = [*generic.values(), *linked]
    if _exists(spark, catalog, ID_MAP):
        out.append(id_map_deletion(scope, ids))
    return tuple(out)


def _model_versions(client: Any) -> list[Any]:
    out: list[Any] = []
    token = None
    while True:
        page = client.search_model_versions("", max_results=1000, page_token=token)
        out.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return out


def plan_flags(spark: SparkSession, catalog: Catalog, client: Any, scope: Scope) -> tuple[Flag, ...]:
    """Versions trained or fitted on the scope's persons (read before anything is deleted)."""
    flags: list[Flag] = []
    if _exists(spark, catalog, DETECTOR_REFERENCES):
        refs = read_table(spark, catalog, DETECTOR_REFERENCES).where(_in("person_id", scope.persons))
        for r in refs.groupBy("model_name", "model_version").agg(
                F.countDistinct("person_id").alias("n")).collect():
            flags.append(Flag(r["model_name"], r["model_version"], "drift", int(r["n"])))
    if _exists(spark, catalog, LABELS) and _exists(spark, catalog, FEATURES):
        labels = read_table(spark, catalog, LABELS).where(_in("person_id", scope.persons))
        visits = read_table(spark, catalog, FEATURES).where(_in("person_id", scope.persons)).select(
            F.col("visit_occurrence_id").cast("long").alias("visit_occurrence_id"))
        known = labels.join(visits, "visit_occurrence_id").select("task", "person_id", "label_available_date")
        rows = known.collect()
        for mv in _model_versions(client):
            tags = dict(mv.tags or {})
            task, as_of = tags.get("mlhops.task"), tags.get("mlhops.labels_as_of")
            if not task or not as_of:
                continue
            hit = {r["person_id"] for r in rows if r["task"] == task and r["label_available_date"] is not None
                   and r["label_available_date"].isoformat() < as_of}
            if hit:
                flags.append(Flag(mv.name, str(mv.version), "model", len(hit)))
    return tuple(sorted(flags, key=lambda f: (f.model_name, int(f.version) if f.version.isdigit() else 0)))


def build_plan(spark: SparkSession, catalog: Catalog, hasher: KeyedHasher, client: Any, *, source: str,
               ids: Sequence[str]) -> ErasurePlan:
    """The whole erasure of ``ids`` of ``source``, decided before anything is deleted."""
    scope = resolve_scope(spark, catalog, hasher, source, ids)
    if scope.empty:
        return ErasurePlan(source, len(ids), scope, (), ())
    deletions = plan_deletions(spark, catalog, scope)
    flags = plan_flags(spark, catalog, client, scope)
    logger.info("erasure plan: %d of %d requested persons found; %d tables to search; %d versions to flag",
                len(scope.persons), len(ids), len(deletions), len(flags))
    return ErasurePlan(source, len(ids), scope, deletions, flags)
