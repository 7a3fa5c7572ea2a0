"""Existing OMOP CDM exports (v5.3 or v5.4, one CSV per table) -> the warehouse as CDM v5.4.

Hospitals that already run an OMOP CDM hand over its tables; no raw-EHR mapping is needed, only:

* finding the tables: file names in any letter case, ``.csv``/``.csv.gz``/``.tsv``/``.txt``, comma
  or tab separated (Athena vocabulary downloads are tab separated); vocabulary tables optional;
* upgrading v5.3 to v5.4 (:mod:`mlhops.etl.sources.omop_cdm_versions`);
* typing every column as the v5.4 spec says, where a value that does not cast, a missing required
  value or an out-of-range integer quarantines the row (file, line, field, reason; never the
  value) instead of failing the job;
* de-identification of what an export may still carry: identifier-like ``*_source_value``
  columns become salted pseudonyms (:mod:`mlhops.etl.deid`), street addresses, provider names,
  NPI/DEA numbers and note text are dropped.

Every data row is accounted for per table: ``rows_read = rows_loaded + rows_quarantined +
rows_filtered``. OMOP ids are kept as exported (they are the site's ids); re-loading the same
export MERGEs on each table's primary key, so a re-run changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.config.model import Settings
from mlhops.errors import DataQualityError
from mlhops.etl.batch import FILTERED_SCHEMA, REJECT_SCHEMA
from mlhops.etl.conservation import Conservation, TableAccount
from mlhops.etl.csv_reader import with_line_numbers
from mlhops.etl.deid import Deidentifier
from mlhops.etl.files import list_files, read_first_line
from mlhops.etl.loader import LoadResult
from mlhops.etl.parse import Check, split_rejects
from mlhops.etl.sources import SourceLoad
from mlhops.etl.sources.omop_cdm_versions import (
    CDM_V54_VERSION_CONCEPT_ID,
    DROPPED_TABLES,
    RENAMED_COLUMNS,
    V53_MARKERS,
)
from mlhops.omop import schema as cdm

logger = logging.getLogger(__name__)

SOURCE = "omop"
_SUFFIXES = (".csv.gz", ".tsv.gz", ".txt.gz", ".csv", ".tsv", ".txt")
_CORRUPT = "_corrupt_record"
DUPLICATE_KEY = "duplicate primary key (an earlier row of the export has it)"
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1

# Columns holding a source system's identifiers: replaced by salted pseudonyms (kind = column).
IDENTIFIER_COLUMNS: dict[str, tuple[str, ...]] = {
    "person": ("person_source_value",),
    "provider": ("provider_source_value",),
    "visit_occurrence": ("visit_source_value",),
    "visit_detail": ("visit_detail_source_value",),
    "note": ("note_source_value",),
    "specimen": ("specimen_source_id",),
}
# Columns that may hold names, street addresses, licence numbers or free text: never loaded.
DROPPED_PHI_COLUMNS: dict[str, tuple[str, ...]] = {
    "location": ("address_1", "address_2"),
    "provider": ("provider_name", "npi", "dea"),
    "note": ("note_text", "note_title"),
    "note_nlp": ("snippet", "lexical_variant"),
}


@dataclass(frozen=True)
class CdmFile:
    """One export file recognised as a CDM table."""

    table: str
    path: str
    separator: str
    columns: tuple[str, ...]  # lower-cased header names, v5.3 names already renamed


@dataclass(frozen=True)
class OmopExport:
    """A parsed export: typed v5.4 frames plus the row accounting."""

    version: str  # "5.3" or "5.4" (as detected)
    tables: dict[str, DataFrame]  # conformant v5.4 frames, ready to write
    rejects: DataFrame  # REJECT_SCHEMA
    filtered: DataFrame  # FILTERED_SCHEMA
    rows_read: dict[str, int]  # data rows per table
    files: list[CdmFile] = field(default_factory=list)
    unknown_files: list[str] = field(default_factory=list)
    dropped_columns: dict[str, list[str]] = field(default_factory=dict)


def table_of_file(name: str) -> str | None:
    """CDM table name of an export file name (any case, known suffix), else None."""
    lower = name.lower()
    for suffix in _SUFFIXES:
        if lower.endswith(suffix):
            return lower[: -len(suffix)]
    return None


def discover(spark: SparkSession, input_path: str) -> tuple[list[CdmFile], list[str], str]:
    """Find the CDM tables of an export folder and detect its CDM version.

    Returns:
        ``(files, unknown file names, version)``. Files of tables v5.4 dropped are included
        (their rows are filtered later); files that are no CDM table are listed as unknown.

    Raises:
        DataQualityError: the folder holds no CDM table.
    """
    known = set(cdm.table_names()) | DROPPED_TABLES
    files: list[CdmFile] = []
    unknown: list[str] = []
    version = "5.4"
    for path in list_files(spark, input_path):
        name = path.rsplit("/", 1)[-1]
        table = table_of_file(name)
        if table is None or table not in known:
            unknown.append(name)
            continue
        header = read_first_line(spark, path)
        sep = "\t" if header.count("\t") > header.count(",") else ","
        raw_cols = [c.strip().strip('"').lower() for c in header.split(sep)]
        if V53_MARKERS.get(table, frozenset()) & set(raw_cols):
            version = "5.3"
        renames = RENAMED_COLUMNS.get(table, {})
        files.append(CdmFile(table, path, sep, tuple(renames.get(c, c) for c in raw_cols)))
    if not files:
        raise DataQualityError(f"--input {input_path}: no OMOP CDM table files found")
    if any(f.table in DROPPED_TABLES for f in files):
        version = "5.3"
    return files, unknown, version


def _read(spark: SparkSession, f: CdmFile) -> tuple[DataFrame, int]:
    """All-string frame with lineage, one column per (renamed, lower-cased) header column,
    and its number of data rows."""
    from pyspark.sql import types as T

    schema = T.StructType(
        [T.StructField(c, T.StringType(), True) for c in f.columns]
        + [T.StructField(_CORRUPT, T.StringType(), True)]
    )
    raw = (
        spark.read.option("header", "true")
        .option("sep", f.separator)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", _CORRUPT)
        .option("enforceSchema", "true")
        .schema(schema)
        .csv(f.path)
    )
    lined, n = with_line_numbers(raw)
    frame = lined.select(
        F.lit(f.table).alias("source_table"),
        F.lit(f.path.rsplit("/", 1)[-1]).alias("source_file"),
        "source_line",
        *[F.nullif(F.trim(F.col(f"`{c}`")), F.lit("")).alias(c) for c in f.columns],
        F.col(_CORRUPT).isNotNull().alias("malformed"),
    )
    return frame, n


def _typed(raw: Column, datatype: str) -> tuple[Column, str]:
    """Typed value of a raw string and the reason text used when it does not cast."""
    d = datatype.lower()
    if d == "integer":
        num = raw.try_cast("double")
        whole = num.isNotNull() & (num == F.floor(num)) & num.between(_INT_MIN, _INT_MAX)
        return F.when(whole, num.cast("long")).cast("int"), "unparseable or out-of-range integer"
    if d == "float":
        return raw.try_cast("double"), "unparseable number"
    if d == "date":
        parsed = F.coalesce(
            F.try_to_timestamp(raw, F.lit("yyyy-MM-dd")),
            F.try_to_timestamp(raw, F.lit("yyyyMMdd")),
            raw.try_cast("timestamp"),
        )
        return parsed.cast("date"), "unparseable date"
    if d == "datetime":
        parsed = F.coalesce(raw.try_cast("timestamp"), F.try_to_timestamp(raw, F.lit("yyyyMMdd")))
        return parsed, "unparseable datetime"
    return raw, ""


def _table_frame(
    deid: Deidentifier, table: str, raw: DataFrame
) -> tuple[DataFrame, DataFrame, list[str]]:
    """(conformant rows, rejects, source columns not in the v5.4 table) of one table."""
    specs = cdm.fields(table)
    present = set(raw.columns)
    extra = sorted(present - {f.name for f in specs} - {"source_table", "source_file", "source_line", "malformed"})
    if table == "metadata" and "metadata_id" not in present:
        raw = raw.withColumn("metadata_id", F.col("source_line").cast("string"))
        present.add("metadata_id")
    if table == "cdm_source" and "cdm_version_concept_id" not in present:
        raw = raw.withColumn("cdm_version_concept_id", F.lit(str(CDM_V54_VERSION_CONCEPT_ID)))
        present.add("cdm_version_concept_id")

    typed: dict[str, Column] = {}
    checks: list[Check] = []
    for spec in specs:
        if spec.name not in present:
            typed[spec.name] = F.lit(None).cast(spec.spark_type)
            if spec.required:
                checks.append((spec.name, F.lit(True), "missing required column"))
            continue
        value, reason = _typed(F.col(spec.name), spec.datatype)
        typed[spec.name] = value.cast(spec.spark_type)
        if reason:
            checks.append((spec.name, F.col(spec.name).isNotNull() & value.isNull(), reason))
        if spec.required:
            checks.append((spec.name, F.col(spec.name).isNull(), "missing required value"))

    good, rejects = split_rejects(raw, checks)
    out_cols: list[Column] = []
    idents = IDENTIFIER_COLUMNS.get(table, ())
    dropped = DROPPED_PHI_COLUMNS.get(table, ())
    for spec in specs:
        col = typed[spec.name]
        if spec.name in idents:
            col = deid.pseudonym(f"{table}.{spec.name}", col)
        elif spec.name in dropped:
            col = F.lit(None).cast(spec.spark_type)
        out_cols.append(col.cast(spec.spark_type).alias(spec.name))
    # Imported here: mlhops.omop.conform builds Spark literals at import time.
    from mlhops.omop.conform import LINEAGE, conform

    conformed = conform(good.select(*out_cols, *LINEAGE), table)
    return conformed.table, rejects.unionByName(conformed.rejects), extra


def read_export(spark: SparkSession, settings: Settings, input_path: str) -> OmopExport:
    """Parse a CDM export folder into conformant v5.4 frames (nothing is written).

    Args:
        spark: the session.
        settings: run settings (de-identification salt).
        input_path: folder with one file per CDM table.
    """
    files, unknown, version = discover(spark, input_path)
    deid = Deidentifier(settings)
    tables: dict[str, DataFrame] = {}
    rejects: list[DataFrame] = []
    filtered: list[DataFrame] = []
    dropped_columns: dict[str, list[str]] = {}
    rows_read: dict[str, int] = {}
    for f in files:
        raw, n = _read(spark, f)
        rows_read[f.table] = rows_read.get(f.table, 0) + n
        if f.table in DROPPED_TABLES:
            filtered.append(
                raw.select("source_table", "source_file", "source_line", F.lit("table removed in CDM v5.4").alias("reason"))
            )
            continue
        frame, rej, extra = _table_frame(deid, f.table, raw)
        if extra:
            dropped_columns[f.table] = extra
            logger.warning("%s: columns not in CDM v5.4 ignored: %s", f.table, ", ".join(extra))
        tables[f.table] = frame if f.table not in tables else tables[f.table].unionByName(frame)
        rejects.append(rej)
    rej_all = spark.createDataFrame([], REJECT_SCHEMA)
    for r in rejects:
        rej_all = rej_all.unionByName(r)
    filt_all = spark.createDataFrame([], FILTERED_SCHEMA)
    for fl in filtered:
        filt_all = filt_all.unionByName(fl)
    logger.info("omop export: %d tables, CDM v%s", len(tables), version)
    return OmopExport(version, tables, rej_all, filt_all, rows_read, files, unknown, dropped_columns)


def _counts(df: DataFrame) -> dict[str, dict[str, int]]:
    """``{source_table: {reason: rows}}`` in one aggregation."""
    out: dict[str, dict[str, int]] = {}
    for r in df.groupBy("source_table", "reason").agg(F.count(F.lit(1)).alias("n")).collect():
        out.setdefault(r["source_table"], {})[r["reason"]] = int(r["n"])
    return out


def load(spark: SparkSession, settings: Settings, input_path: str, run_id: str) -> SourceLoad:
    """Load a CDM export into ``omop.<table>`` (MERGE on primary keys) and quarantine bad rows.

    Tables without a single-column primary key (death, fact_relationship, the vocabulary
    relationship tables, ...) are replaced as a whole: an export is a complete snapshot of them.

    Args:
        spark: the session.
        settings: run settings.
        input_path: export folder.
        run_id: id of this run (quarantine lineage).

    Returns:
        The layout (``omop-cdm-5.3``/``omop-cdm-5.4``), the loader-shaped result (tables and
        versions written, rows written, conservation per table) and input checksums.

    Raises:
        DataQualityError: no CDM table in the folder, or rows read != loaded + quarantined + filtered.
    """
    from mlhops.etl.files import checksum
    from mlhops.etl.quarantine import QUARANTINE_TABLE, quarantine_rows, write_quarantine
    from mlhops.io import Catalog, merge_into, table_version, write_overwrite

    export = read_export(spark, settings, input_path)
    catalog = Catalog(settings.warehouse)
    result = LoadResult()
    for table, frame in export.tables.items():
        pk = cdm.primary_key(table)
        name = f"omop.{table}"
        frame = (frame.dropDuplicates([pk]) if pk is not None else frame).persist()
        result.rows_written[table] = frame.count()
        if pk is not None:
            merge_into(frame, catalog, name, [pk])
        else:
            write_overwrite(frame, catalog, name)
        result.tables[name] = table_version(spark, catalog, name) or 0
        frame.unpersist()
    rejects = export.rejects.persist()
    quarantined = {t: sum(by.values()) for t, by in _counts(rejects).items()}
    filtered = _counts(export.filtered)
    files = [checksum(spark, f.path) for f in export.files]
    if quarantined:
        write_quarantine(quarantine_rows(rejects, run_id=run_id, source=SOURCE, files=files), catalog)
        result.tables[QUARANTINE_TABLE] = table_version(spark, catalog, QUARANTINE_TABLE) or 0
    rejects.unpersist()
    accounts: dict[str, TableAccount] = {}
    for table, n in export.rows_read.items():
        filt = dict(filtered.get(table, {}))
        q = quarantined.get(table, 0)
        loaded = result.rows_written.get(table, 0)
        # Rows neither quarantined nor filtered by the reader reached the conformed frame; the
        # ones missing from what was written repeat an earlier row's primary key.
        dupes = n - q - sum(filt.values()) - loaded if table in export.tables else 0
        if dupes > 0:
            filt[DUPLICATE_KEY] = dupes
        accounts[table] = TableAccount(read=n, loaded=loaded, quarantined=q, filtered=filt)
    result.conservation = Conservation(tables=accounts)
    if not result.conservation.balanced:
        raise DataQualityError(f"omop export: rows read != accounted for in {result.conservation.unbalanced()}")
    logger.info("omop export loaded: %d tables, %d rows quarantined", len(export.tables), sum(quarantined.values()))
    return SourceLoad(layout=f"omop-cdm-{export.version}", result=result, input_files=files)
