"""The shared loader: a :class:`~mlhops.etl.batch.SourceBatch` -> ``omop.*`` Delta tables.

:func:`load_batch` runs the named steps of :mod:`mlhops.etl.steps` top to bottom: checks ->
date shift -> vocabulary mapping -> ids from ``mlhops.id_map`` -> OMOP rows -> conformance and
MERGE on primary keys -> eras (recomputed from the merged tables) -> quarantine and
conservation -> imaging tables. Re-running the same input leaves every table's rows unchanged;
a later extract merges in (new keys insert, changed rows update). An existing CDM export's
typed rows take their own path (:mod:`mlhops.etl.steps.cdm`).
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from mlhops.concurrency import run_all
from mlhops.etl.batch import LoadResult, SourceBatch
from mlhops.etl.env import EtlEnv
from mlhops.etl.steps.cdm import load_cdm_tables
from mlhops.etl.steps.conformance import write_tables
from mlhops.etl.steps.conservation import Ledger, quarantine_and_account, record_platform_tables, require_balanced
from mlhops.etl.steps.deid import shift_dates
from mlhops.etl.steps.eras import write_eras
from mlhops.etl.steps.ids import resolve_ids
from mlhops.etl.steps.imaging import load_image_instances, load_image_series
from mlhops.etl.steps.mapping import map_vocabulary
from mlhops.etl.steps.references import check_rows
from mlhops.etl.steps.rows import omop_tables
from mlhops.etl.vocabulary import Vocabulary, load_vocabulary

__all__ = ["LoadResult", "load_batch"]


def load_batch(spark: SparkSession, env: EtlEnv, batch: SourceBatch, run_id: str,
               vocab: Vocabulary | None = None) -> LoadResult:
    """Load one parsed source batch into the OMOP warehouse.

    Args:
        spark: the session.
        env: the run's catalog, de-identifier and ``etl`` settings.
        batch: the parsed extract.
        run_id: this run's id (recorded in ``id_map`` and quarantine).
        vocab: vocabulary frames; loaded from ``etl.vocabulary_dir`` when omitted.

    Raises:
        DataQualityError: conservation does not balance (a row was lost: a bug, never data).
    """
    if batch.cdm_tables is not None:
        return load_cdm_tables(spark, env.catalog, batch, run_id)
    catalog, deid, jobs = env.catalog, env.deid, env.etl.concurrent_jobs
    vocab = vocab or load_vocabulary(spark, env.etl.vocabulary_dir)
    result, ledger = LoadResult(), Ledger.of(batch)

    entities = check_rows(spark, catalog, deid, batch, ledger)
    entities = shift_dates(entities, deid)
    mapped, result.mapping = map_vocabulary(entities.events, vocab)
    ids = resolve_ids(spark, catalog, deid, run_id, entities, mapped)
    tables = omop_tables(entities, mapped, ids, deid, env.etl.standard_concepts)
    write_tables(spark, catalog, tables, jobs, result, ledger)

    # Eras, and quarantine with conservation, are independent: side by side when jobs may.
    _, result.conservation = run_all([
        lambda: write_eras(spark, catalog, deid, vocab, run_id, result),
        lambda: quarantine_and_account(catalog, batch, ledger, run_id),
    ], jobs, "etl-finish")
    record_platform_tables(spark, catalog, result)
    require_balanced(result.conservation)

    if batch.image_instances is not None:
        load_image_instances(spark, catalog, deid, batch, batch.image_instances, run_id, result)
    if batch.image_series is not None:
        load_image_series(spark, catalog, deid, batch.image_series, vocab, run_id, result)
    return result
