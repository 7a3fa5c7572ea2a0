"""Which visits a features run rebuilds, and writing them into ``mlhops.features``.

Incremental runs rebuild only the visits touched by OMOP rows changed since the versions the
stage last processed (Delta change data feed of each source table; a person change touches all
of that person's visits). Without a usable feed every visit is rebuilt. MERGE leaves unchanged
rows untouched either way, so the feature table's own change feed (read by the stats stage)
holds only real changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.io import Catalog, delete_where, merge_into, read_table, table_exists, table_version
from mlhops.io.changes import changed_since, enable_change_feed
from mlhops.io.tables.etl import OMOP_SCHEMA, omop_table
from mlhops.io.tables.monitoring import FEATURE_KEYS, FEATURES

PERSON = "person"
VISITS = "visit_occurrence"
# Without these OMOP tables there is nothing to build.
REQUIRED_OMOP = (VISITS, PERSON)


@dataclass(frozen=True)
class OmopInputs:
    """The OMOP frames a run builds from (absent event tables as empty frames) and the Delta
    versions of the present ones (``{omop.<table>: version}``)."""

    frames: dict[str, DataFrame]
    versions: dict[str, int]

    @property
    def present(self) -> list[str]:
        """OMOP tables (short names) that exist in the warehouse."""
        return [name.removeprefix(f"{OMOP_SCHEMA}.") for name in self.versions]


@dataclass(frozen=True)
class TouchedVisits:
    """Visits to rebuild: these visit ids, and every visit of these persons."""

    visits: frozenset[int]
    persons: frozenset[int]

    @property
    def empty(self) -> bool:
        """Nothing changed."""
        return not self.visits and not self.persons

    def predicate(self) -> Column:
        """Rows (with ``visit_occurrence_id`` and ``person_id``) of the touched visits."""
        return F.col("visit_occurrence_id").isin(sorted(self.visits)) | F.col("person_id").isin(sorted(self.persons))


def missing_omop(spark: SparkSession, catalog: Catalog) -> list[str]:
    """The required OMOP tables that do not exist."""
    return [t for t in REQUIRED_OMOP if not table_exists(spark, catalog, omop_table(t))]


def read_inputs(spark: SparkSession, catalog: Catalog, tables: Sequence[str]) -> OmopInputs:
    """The OMOP frames of ``tables`` and the versions of the present ones."""
    from mlhops.omop.schema import schema

    present = [t for t in tables if table_exists(spark, catalog, omop_table(t))]
    versions = {omop_table(t): int(table_version(spark, catalog, omop_table(t)) or 0) for t in present}
    frames = {t: read_table(spark, catalog, omop_table(t)) for t in present}
    for t in tables:
        if t not in frames:  # an absent event table contributes no events
            frames[t] = spark.createDataFrame([], schema(t))
    return OmopInputs(frames, versions)


def touched_visits(
    spark: SparkSession, catalog: Catalog, inputs: OmopInputs, marks: dict[str, int]
) -> TouchedVisits | None:
    """Visits touched since the watermarks ``marks``; None when a change feed is missing."""
    visits: set[int] = set()
    persons: set[int] = set()
    for t in inputs.present:
        name = omop_table(t)
        column = "person_id" if t == PERSON else "visit_occurrence_id"
        values = changed_since(spark, catalog, name, column, marks.get(name), inputs.versions[name])
        if values is None:
            return None
        (persons if t == PERSON else visits).update(int(v) for v in values)  # type: ignore[call-overload]
    return TouchedVisits(frozenset(visits), frozenset(persons))


def select_visits(
    visits: DataFrame, touched: TouchedVisits | None, start: dt.date | None, end: dt.date | None
) -> DataFrame:
    """The visits to rebuild: the touched ones (every visit when None), plus, with a range, the
    visits starting in ``[start, end)``; without touched visits (a full or forced run) a range
    limits the rebuild to it. A range never hides a touched visit, so the watermark can move."""
    in_range = F.lit(True)
    if start is not None:
        in_range = in_range & (F.col("visit_start_date") >= F.lit(start))
    if end is not None:
        in_range = in_range & (F.col("visit_start_date") < F.lit(end))
    ranged = start is not None or end is not None
    if touched is None:
        return visits.where(in_range) if ranged else visits
    return visits.where(touched.predicate() | in_range) if ranged else visits.where(touched.predicate())


def write_features(
    spark: SparkSession,
    catalog: Catalog,
    rows: DataFrame,
    visits: DataFrame,
    touched: TouchedVisits | None,
    remove_deleted: bool,
) -> tuple[int, int]:
    """MERGE rebuilt feature rows (change feed on when the table is created) and delete the rows
    of visits that are gone.

    Args:
        spark: the session.
        catalog: table locations.
        rows: the rebuilt feature rows.
        visits: the visits they were built from.
        touched: the touched visits of an incremental run (None: a full run).
        remove_deleted: compare with ``visits`` and delete vanished visits (False for runs
            restricted to a date range, which see only part of the visits).

    Returns:
        ``(rows written, rows removed)``.
    """
    rows = rows.cache()
    try:
        n_rows = rows.count()
        created = not table_exists(spark, catalog, FEATURES)
        merge_into(rows, catalog, FEATURES, list(FEATURE_KEYS), bound_by="visit_occurrence_id")
        if created:
            enable_change_feed(spark, catalog, FEATURES)
        removed = _remove_deleted_visits(spark, catalog, visits, touched) if remove_deleted else 0
    finally:
        rows.unpersist()
    return n_rows, removed


def _remove_deleted_visits(
    spark: SparkSession, catalog: Catalog, visits: DataFrame, touched: TouchedVisits | None
) -> int:
    """Delete feature rows whose visit is gone (full runs compare all; incremental the touched)."""
    features = read_table(spark, catalog, FEATURES).select("visit_occurrence_id", "person_id")
    if touched is not None:
        features = features.where(touched.predicate())
    gone = features.join(visits.select("visit_occurrence_id"), on="visit_occurrence_id", how="left_anti")
    stale = sorted(int(r[0]) for r in gone.select("visit_occurrence_id").collect())
    if stale:
        delete_where(spark, catalog, FEATURES, f"visit_occurrence_id IN ({', '.join(map(str, stale))})")
    return len(stale)
