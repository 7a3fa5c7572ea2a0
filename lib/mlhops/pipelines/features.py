"""Stage ``features``: OMOP -> ``mlhops.features`` (one row per visit), incrementally.

Incremental runs rebuild only the visits touched by OMOP rows changed since the versions this
stage last processed (Delta change data feed of each source table; a person change touches
all of that person's visits). Without a usable feed, or with ``--force``, every visit is
rebuilt; MERGE leaves unchanged rows untouched either way, so the feature table's own change
feed - which the stats stage reads - holds only real changes.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.config.model import Settings
from mlhops.features.build import build_features, required_tables
from mlhops.features.spec import load_feature_specs
from mlhops.io import Catalog, delete_where, merge_into, read_table, table_exists, table_version
from mlhops.pipelines.base import StageParams, StageResult
from mlhops.io.changes import (
    changed_values,
    enable_change_feed,
    read_changes,
    read_watermarks,
    write_watermarks,
)

logger = logging.getLogger(__name__)

STAGE = "features"
FEATURES = "mlhops.features"
KEYS = ["visit_occurrence_id"]


def _touched_visits(
    spark: SparkSession, catalog: Catalog, tables: list[str], marks: dict[str, int], versions: dict[str, int]
) -> tuple[set[int], set[int]] | None:
    """Visit ids and person ids touched since ``marks``; None when a change feed is missing."""
    visits: set[int] = set()
    persons: set[int] = set()
    for t in tables:
        name = f"omop.{t}"
        if name not in marks:
            return None
        if versions[name] == marks[name]:
            continue
        changes = read_changes(spark, catalog, name, marks[name] + 1)
        if changes is None:
            return None
        column = "person_id" if t == "person" else "visit_occurrence_id"
        values = changed_values(changes, column)
        if values is None:
            return None
        (persons if t == "person" else visits).update(int(v) for v in values)  # type: ignore[call-overload]
    return visits, persons


def run(spark: SparkSession, settings: Settings, params: StageParams) -> StageResult:
    """Build or update the feature table."""
    cat = Catalog(settings.warehouse)
    specs = load_feature_specs(settings)
    tables = required_tables(specs)
    missing = [t for t in ("visit_occurrence", "person") if not table_exists(spark, cat, f"omop.{t}")]
    if missing:
        return StageResult(STAGE, "skipped", f"OMOP tables missing: {', '.join(missing)}")
    present = [t for t in tables if table_exists(spark, cat, f"omop.{t}")]
    versions = {f"omop.{t}": int(table_version(spark, cat, f"omop.{t}") or 0) for t in present}
    frames: dict[str, DataFrame] = {t: read_table(spark, cat, f"omop.{t}") for t in present}
    for t in tables:
        if t not in frames:  # an absent event table contributes no events
            from mlhops.omop.schema import schema

            frames[t] = spark.createDataFrame([], schema(t))

    marks = read_watermarks(spark, cat, STAGE)
    incremental = settings.features.incremental and not params.force and table_exists(spark, cat, FEATURES)
    touched = _touched_visits(spark, cat, present, marks, versions) if incremental else None
    mode = "incremental" if touched is not None else "full"
    if touched is not None:
        visit_ids, person_ids = touched
        if not visit_ids and not person_ids:
            write_watermarks(spark, cat, STAGE, versions)
            return StageResult(STAGE, "ok", "no OMOP changes", metrics={"visits_rebuilt": 0.0})
        v = frames["visit_occurrence"]
        frames["visit_occurrence"] = v.where(
            F.col("visit_occurrence_id").isin(sorted(visit_ids)) | F.col("person_id").isin(sorted(person_ids))
        )
    if params.start is not None or params.end is not None:
        v = frames["visit_occurrence"]
        if params.start is not None:
            v = v.where(F.col("visit_start_date") >= F.lit(params.start))
        if params.end is not None:
            v = v.where(F.col("visit_start_date") < F.lit(params.end))
        frames["visit_occurrence"] = v
    rows = build_features(frames, specs).cache()
    try:
        n_rows = rows.count()
        created = not table_exists(spark, cat, FEATURES)
        merge_into(rows, cat, FEATURES, KEYS)
        if created:
            enable_change_feed(spark, cat, FEATURES)
        removed = _remove_deleted_visits(spark, cat, frames["visit_occurrence"], touched, params)
    finally:
        rows.unpersist()
    write_watermarks(spark, cat, STAGE, versions)
    logger.info("features: %s run rebuilt %d visits", mode, n_rows)
    return StageResult(
        STAGE,
        "ok",
        f"{mode}: {n_rows} visits rebuilt",
        metrics={"visits_rebuilt": float(n_rows), "visits_removed": float(removed)},
        tables={FEATURES: int(table_version(spark, cat, FEATURES) or 0)},
    )


def _remove_deleted_visits(
    spark: SparkSession,
    catalog: Catalog,
    visits: DataFrame,
    touched: tuple[set[int], set[int]] | None,
    params: StageParams,
) -> int:
    """Delete feature rows whose visit is gone (full runs compare all; incremental the touched)."""
    if params.start is not None or params.end is not None:
        return 0
    features = read_table(spark, catalog, FEATURES).select("visit_occurrence_id", "person_id")
    if touched is not None:
        ids, persons = touched
        features = features.where(
            F.col("visit_occurrence_id").isin(sorted(ids)) | F.col("person_id").isin(sorted(persons))
        )
    gone = features.join(visits.select("visit_occurrence_id"), on="visit_occurrence_id", how="left_anti")
    stale = sorted(int(r[0]) for r in gone.select("visit_occurrence_id").collect())
    if stale:
        delete_where(spark, catalog, FEATURES, f"visit_occurrence_id IN ({', '.join(map(str, stale))})")
    return len(stale)
