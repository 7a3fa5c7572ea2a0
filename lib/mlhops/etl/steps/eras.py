"""Loader step 7: condition and drug eras, recomputed over the whole merged tables (the eras of a
person depend on all their rows) and written in place of the previous ones."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.etl import eras
from mlhops.etl.batch import LoadResult
from mlhops.etl.deid import Deidentifier
from mlhops.etl.steps.ids import attach_id, ids_by_key
from mlhops.etl.vocabulary import Vocabulary
from mlhops.io import Catalog, read_table, table_exists, table_version, write_overwrite
from mlhops.io.tables.etl import omop_table
from mlhops.omop.conform import conform


def _era_specs(vocab: Vocabulary) -> list[tuple[str, str, str, str, Callable[[DataFrame], DataFrame]]]:
    """(era table, source table, concept column, era start column, builder)."""
    return [
        ("condition_era", "condition_occurrence", "condition_concept_id", "condition_era_start_date",
         eras.condition_eras),
        ("drug_era", "drug_exposure", "drug_concept_id", "drug_era_start_date", lambda df: eras.drug_eras(df, vocab)),
    ]


def write_eras(spark: SparkSession, catalog: Catalog, deid: Deidentifier, vocab: Vocabulary, run_id: str,
               result: LoadResult) -> None:
    """Rebuild ``condition_era`` and ``drug_era`` (ids from ``mlhops.id_map``); record them in ``result``."""
    keyed: dict[str, DataFrame] = {}
    for era_table, source_table, concept, start, build in _era_specs(vocab):
        if not table_exists(spark, catalog, omop_table(source_table)):
            continue
        rows = build(read_table(spark, catalog, omop_table(source_table)))
        # Materialised: the eras feed both the id request and the rows written.
        keyed[era_table] = rows.withColumn(
            "_k", F.concat_ws("|", "person_id", concept, F.col(start).cast("string"))
        ).localCheckpoint(eager=True)
    if not keyed:
        return
    # One id assignment (one id_map MERGE) for the eras of both tables.
    ids = ids_by_key(spark, catalog, deid, run_id, [(t, k, F.col("_k")) for t, k in keyed.items()])
    for era_table, k in keyed.items():
        with_ids = attach_id(k, ids, era_table, F.col("_k"), f"{era_table}_id").drop("_k")
        conformed = conform(with_ids, era_table).table.localCheckpoint(eager=True)
        write_overwrite(conformed, catalog, omop_table(era_table))
        result.rows_written[era_table] = conformed.count()
        version = table_version(spark, catalog, omop_table(era_table))
        if version is not None:
            result.tables[omop_table(era_table)] = version
