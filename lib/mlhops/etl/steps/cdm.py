"""The loader's path for an existing OMOP CDM export: typed CDM rows get this warehouse's ids.

The export's ids were turned into keyed hashes by the source; here they become ids from
``mlhops.id_map`` (:func:`mlhops.etl.sources.omop_cdm_ids.resolve_export`), so an export loads
next to other sources without overwriting their rows. Each table is then MERGEd on its key in the
table catalog (its primary key; ``death`` on ``person_id``; a row repeating an earlier row's key
is filtered as a duplicate); other tables without a key MERGE on all their columns (rows of
other sources stay), except the vocabulary tables, which an export replaces as a whole.
Rejected rows are quarantined and every row read is accounted for per table.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.etl.batch import LoadResult, SourceBatch
from mlhops.etl.conservation import Conservation, TableAccount
from mlhops.etl.quarantine import quarantine_rows, write_quarantine
from mlhops.etl.sources.omop_cdm_ids import resolve_export
from mlhops.etl.steps.conservation import require_balanced
from mlhops.etl.steps.safe_harbor import generalise_location, generalise_person, latest_date
from mlhops.io import Catalog, merge_into, table_version, write_overwrite
from mlhops.io.tables import spec
from mlhops.io.tables.etl import QUARANTINE, omop_table
from mlhops.spark import spark_conf

logger = logging.getLogger(__name__)

# Catalyst's constraint propagation (inferring filters from every predicate and alias of a plan)
# is off while an export loads. An export's table frames carry a typing check per column, the id
# swaps and Safe Harbor's projections; on one of them (cost: 22 typed columns, empty in the export
# tried) the optimizer ran for minutes without end through Spark Connect (thread dump: PruneFilters
# -> getAllValidConstraints, in the persist of the table's frame), so the export never loaded
# there. With it off the same export loads through a local Connect server in 182 s. The filters it
# would infer (IS NOT NULL before joins) are redundant: no result changes.
CONSTRAINT_PROPAGATION = "spark.sql.constraintPropagation.enabled"
DUPLICATE_KEY = "duplicate primary key (an earlier row of the export has it)"
# Vocabulary tables without a primary key: an export's copy replaces the table.
_VOCABULARY_TABLES = frozenset({"concept_relationship", "concept_synonym", "concept_ancestor",
                                "source_to_concept_map", "drug_strength"})
# Dated columns that bound "the latest date the export shows" (Safe Harbor age grouping).
_LATEST_DATE_COLUMNS = (("visit_occurrence", "visit_start_date"), ("observation_period", "observation_period_end_date"),
                        ("condition_occurrence", "condition_start_date"), ("measurement", "measurement_date"),
                        ("observation", "observation_date"), ("procedure_occurrence", "procedure_date"),
                        ("drug_exposure", "drug_exposure_start_date"), ("death", "death_date"))


def safe_harbor(tables: dict[str, DataFrame]) -> dict[str, DataFrame]:
    """The export's ``person`` and ``location`` rows generalised as every source's are
    (:mod:`mlhops.etl.steps.safe_harbor`)."""
    out = dict(tables)
    if "location" in out:
        out["location"] = generalise_location(out["location"])
    if "person" in out:
        latest = latest_date([(out[t], c) for t, c in _LATEST_DATE_COLUMNS if t in out])
        out["person"] = generalise_person(out["person"], latest)
    return out


def _counts(df: DataFrame) -> dict[str, dict[str, int]]:
    """``{source_table: {reason: rows}}`` in one aggregation."""
    out: dict[str, dict[str, int]] = {}
    for r in df.groupBy("source_table", "reason").agg(F.count(F.lit(1)).alias("n")).collect():
        out.setdefault(r["source_table"], {})[r["reason"]] = int(r["n"])
    return out


def _count_and_id_range(frame: DataFrame, key: str) -> tuple[int, tuple[int, int] | None]:
    """Rows of ``frame`` and, when every row has an id, the lowest and highest (one pass)."""
    stats = frame.agg(F.count(F.lit(1)).alias("n"), F.count(key).alias("ids"),
                      F.min(key).alias("lo"), F.max(key).alias("hi")).first()
    if stats is None or not stats["n"]:
        return 0, None
    return int(stats["n"]), ((stats["lo"], stats["hi"]) if stats["ids"] == stats["n"] else None)


def _write_tables(spark: SparkSession, catalog: Catalog, tables: dict[str, DataFrame], result: LoadResult) -> None:
    for table, frame in tables.items():
        name = omop_table(table)
        keys = list(spec(name).keys)
        frame = (frame.dropDuplicates(keys) if keys else frame).persist()
        # OMOP ids are assigned in increasing order, so a night's new rows land in new files: the
        # MERGE is bounded to the batch's id range, taken in the pass that counts the rows.
        rows, id_range = _count_and_id_range(frame, keys[0]) if len(keys) == 1 else (frame.count(), None)
        result.rows_written[table] = rows
        if keys:
            merge_into(frame, catalog, name, keys, bound_by=keys[0] if id_range else None, bounds=id_range)
        elif table in _VOCABULARY_TABLES:
            write_overwrite(frame, catalog, name)
        else:
            merge_into(frame, catalog, name, frame.columns, update=False)
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
    with spark_conf(spark, {CONSTRAINT_PROPAGATION: "false"}):
        return _load(spark, catalog, batch, run_id)


def _load(spark: SparkSession, catalog: Catalog, batch: SourceBatch, run_id: str) -> LoadResult:
    assert batch.cdm_tables is not None
    tables, unconformed = resolve_export(spark, catalog, batch.cdm_tables, run_id)
    tables = safe_harbor(tables)
    batch = replace(batch, cdm_tables=tables, rejects=batch.rejects.unionByName(unconformed))
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
