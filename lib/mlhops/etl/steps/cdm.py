"""The loader's path for an existing OMOP CDM export: typed CDM rows keep their ids.

Each table is MERGEd on its primary key (a row repeating an earlier row's key is filtered as a
duplicate); tables without a single-column primary key (death, fact_relationship, the vocabulary
relationship tables, ...) are replaced as a whole, since an export is a complete snapshot of them.
Rejected rows are quarantined and every row read is accounted for per table.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.etl.batch import LoadResult, SourceBatch
from mlhops.etl.conservation import Conservation, TableAccount
from mlhops.etl.quarantine import quarantine_rows, write_quarantine
from mlhops.etl.steps.conservation import require_balanced
from mlhops.io import Catalog, merge_into, table_version, write_overwrite
from mlhops.io.tables.etl import QUARANTINE, omop_table
from mlhops.omop import schema as cdm

logger = logging.getLogger(__name__)

DUPLICATE_KEY = "duplicate primary key (an earlier row of the export has it)"


def _counts(df: DataFrame) -> dict[str, dict[str, int]]:
    """``{source_table: {reason: rows}}`` in one aggregation."""
    out: dict[str, dict[str, int]] = {}
    for r in df.groupBy("source_table", "reason").agg(F.count(F.lit(1)).alias("n")).collect():
        out.setdefault(r["source_table"], {})[r["reason"]] = int(r["n"])
    return out


def _write_tables(spark: SparkSession, catalog: Catalog, tables: dict[str, DataFrame], result: LoadResult) -> None:
    for table, frame in tables.items():
        pk = cdm.primary_key(table)
        name = omop_table(table)
        frame = (frame.dropDuplicates([pk]) if pk is not None else frame).persist()
        result.rows_written[table] = frame.count()
        if pk is not None:
            merge_into(frame, catalog, name, [pk])
        else:
            write_overwrite(frame, catalog, name)
        result.tables[name] = table_version(spark, catalog, name) or 0
        frame.unpersist()


def _account(batch: SourceBatch, tables: dict[str, DataFrame], quarantined: dict[str, int],
             result: LoadResult) -> Conservation:
    filtered = _counts(batch.filtered)
    accounts: dict[str, TableAccount] = {}
    for table, n in batch.rows_read.items():
        filt = dict(filtered.get(table, {}))
        q = quarantined.get(table, 0)
        loaded = result.rows_written.get(table, 0)
        # Rows neither quarantined nor filtered by the reader reached the conformed frame; the
        # ones missing from what was written repeat an earlier row's primary key.
        dupes = n - q - sum(filt.values()) - loaded if table in tables else 0
        if dupes > 0:
            filt[DUPLICATE_KEY] = dupes
        accounts[table] = TableAccount(read=n, loaded=loaded, quarantined=q, filtered=filt)
    return Conservation(tables=accounts)


def load_cdm_tables(spark: SparkSession, catalog: Catalog, batch: SourceBatch, run_id: str) -> LoadResult:
    """Load a CDM export's tables into ``omop.<table>`` and quarantine its rejected rows.

    Raises:
        DataQualityError: rows read != loaded + quarantined + filtered.
    """
    assert batch.cdm_tables is not None
    result = LoadResult()
    _write_tables(spark, catalog, batch.cdm_tables, result)
    rejects = batch.rejects.persist()
    quarantined = {t: sum(by.values()) for t, by in _counts(rejects).items()}
    if quarantined:
        write_quarantine(quarantine_rows(rejects, run_id=run_id, source=batch.source, files=batch.input_files), catalog)
        result.tables[QUARANTINE] = table_version(spark, catalog, QUARANTINE) or 0
    rejects.unpersist()
    result.conservation = _account(batch, batch.cdm_tables, quarantined, result)
    require_balanced(result.conservation, "omop export: rows read != accounted for in")
    logger.info("omop export loaded: %d tables, %d rows quarantined", len(batch.cdm_tables), sum(quarantined.values()))
    return result
