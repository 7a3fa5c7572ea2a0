"""Loader step 6: conform each OMOP table to the CDM v5.4 spec and MERGE it on its key.

Rows with a null required field are not written but rejected (quarantined); the lineage of the
rows written counts them as loaded. Independent tables are written concurrently.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from pyspark.sql import DataFrame, SparkSession

from mlhops.concurrency import run_all
from mlhops.etl.batch import LoadResult
from mlhops.etl.events import EVENT_TABLES
from mlhops.etl.steps.conservation import Ledger
from mlhops.io import Catalog, merge_into, table_version
from mlhops.io.tables import spec
from mlhops.io.tables.etl import omop_table
from mlhops.omop.conform import conform

# OMOP tables whose rows come one-to-one from source rows (their lineage counts as "loaded").
LINEAGE_TABLES = ("person", "visit_occurrence", "provider", "care_site", "payer_plan_period", "cost", *EVENT_TABLES)


@dataclass(frozen=True)
class Written:
    """One conformed and merged OMOP table: its version, row count, lineage and rejects."""

    table: str
    version: int | None
    rows: int
    lineage: DataFrame | None
    rejects: DataFrame


def write_table(spark: SparkSession, catalog: Catalog, table: str, df: DataFrame) -> Written:
    """Conform and MERGE one OMOP table on its catalog keys."""
    # Materialise once: the table, its rejects and its lineage all derive from this frame.
    conformed = conform(df.localCheckpoint(eager=True), table)
    staged = conformed.table
    n = staged.count()
    name = omop_table(table)
    merge_into(staged, catalog, name, keys=list(spec(name).keys))
    version = table_version(spark, catalog, name)
    return Written(table, version, n, conformed.kept_lineage if table in LINEAGE_TABLES else None, conformed.rejects)


def write_tables(spark: SparkSession, catalog: Catalog, tables: list[tuple[str, DataFrame]], parallelism: int,
                 result: LoadResult, ledger: Ledger) -> None:
    """Write independent OMOP tables, ``parallelism`` at a time (each is its own Delta commit;
    a failure in one is raised after the others finish). Results are recorded in input order."""
    written = run_all([partial(write_table, spark, catalog, t, df) for t, df in tables], parallelism, "omop-write")
    for w in written:
        if w.version is not None:
            result.tables[omop_table(w.table)] = w.version
        result.rows_written[w.table] = w.rows
        if w.lineage is not None:
            ledger.loaded.append(w.lineage)
        ledger.rejects.append(w.rejects)
