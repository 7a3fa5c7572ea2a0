"""Existing OMOP CDM exports (v5.3 or v5.4, one CSV per table) -> the warehouse as CDM v5.4.

Hospitals that already run an OMOP CDM hand over its tables; no raw-EHR mapping is needed, only:

* finding the tables: file names in any letter case, ``.csv``/``.csv.gz``/``.tsv``/``.txt``, comma
  or tab separated (Athena vocabulary downloads are tab separated); vocabulary tables optional;
* upgrading v5.3 to v5.4 (:mod:`mlhops.etl.sources.omop_cdm_versions`);
* typing every column as the v5.4 spec says, where a value that does not cast, a missing required
  value or an out-of-range integer quarantines the row (file, line, field, reason; never the
  value) instead of failing the job; id columns are keys instead, any non-empty value (64-bit,
  negative, hashed or string ids included);
* this warehouse's ids in place of the export's (:mod:`mlhops.etl.sources.omop_cdm_ids`): each id
  value is hashed with the run's keyed hasher here, and the loader swaps the hashes for ids from
  ``mlhops.id_map`` (primary and foreign keys alike, so references stay consistent), so an
  export loads next to other sources without overwriting their patients;
* de-identification of what an export may still carry: identifier-like ``*_source_value``
  columns become keyed pseudonyms (:mod:`mlhops.etl.deid`), street addresses, provider names,
  NPI/DEA numbers, dosing instructions and note text are dropped, other free-text columns are
  redacted (:mod:`mlhops.etl.redact`), and ``person``/``location`` are generalised as Safe
  Harbor requires (:mod:`mlhops.etl.steps.safe_harbor`, applied by the loader);
* dates shifted per person like every other source's (:mod:`mlhops.etl.sources.omop_cdm_dates`).

Every data row is accounted for per table: ``rows_read = rows_loaded + rows_quarantined +
rows_filtered``. The loader MERGEs each table on its (remapped) primary key
(:mod:`mlhops.etl.steps.cdm`), so re-loading the same export changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.frames import union_all
from mlhops.errors import DataQualityError
from mlhops.etl.batch import SourceBatch, empty_frame, source_batch
from mlhops.etl.csv_reader import with_line_numbers
from mlhops.etl.deid import Deidentifier
from mlhops.etl.env import EtlEnv
from mlhops.etl.files import checksum
from mlhops.etl.parse import Check, split_rejects
from mlhops.etl.redact import redact
from mlhops.etl.sanitize import safe_file_name, safe_label
from mlhops.etl.sources.omop_cdm_dates import shift_person_dates
from mlhops.etl.sources.omop_cdm_ids import is_id_column, with_id_keys
from mlhops.etl.sources.omop_cdm_versions import (
    CDM_V54_VERSION_CONCEPT_ID,
    DROPPED_TABLES,
    RENAMED_COLUMNS,
    V53_MARKERS,
)
from mlhops.io.fs import list_files, read_first_line
from mlhops.omop import schema as cdm

LINEAGE = ["source_table", "source_file", "source_line"]

logger = logging.getLogger(__name__)

SOURCE = "omop"
_SUFFIXES = (".csv.gz", ".tsv.gz", ".txt.gz", ".csv", ".tsv", ".txt")
_CORRUPT = "_corrupt_record"
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
    "drug_exposure": ("sig",),
    "note": ("note_text", "note_title"),
    "note_nlp": ("snippet", "lexical_variant"),
}

# Free-text columns an export may fill with clinician text: identifier patterns redacted
# (:func:`mlhops.etl.redact.redact`); drug_exposure.sig (dosing instructions) is dropped.
REDACTED_TEXT_COLUMNS: dict[str, tuple[str, ...]] = {
    "observation": ("value_as_string", "value_source_value", "qualifier_source_value"),
    "measurement": ("value_source_value",),
    "condition_occurrence": ("stop_reason", "condition_status_source_value"),
    "drug_exposure": ("stop_reason",),
    "device_exposure": ("unique_device_id",),
    "specimen": ("specimen_source_value",),
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
    # v5.4 columns typed as the spec says (plus lineage), except that id columns are null and
    # each has a ``_idkey_<column>`` (kind, keyed hash) instead: ids come from the id map when
    # loading (:func:`mlhops.etl.sources.omop_cdm_ids.resolve_export` conforms them then).
    tables: dict[str, DataFrame]
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
            unknown.append(safe_file_name(name))
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
    """(typed rows with id keys, rejects, source columns not in the v5.4 table) of one table."""
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
        if is_id_column(table, spec.name):
            typed[spec.name] = F.col(spec.name)  # a key of any form: replaced by an id when loading
        else:
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
    free_text = REDACTED_TEXT_COLUMNS.get(table, ())
    for spec in specs:
        col = typed[spec.name]
        if spec.name in idents:
            col = deid.pseudonym(f"{table}.{spec.name}", col)
        elif spec.name in dropped:
            col = F.lit(None).cast(spec.spark_type)
        elif spec.name in free_text:
            col = redact(col)
        elif is_id_column(table, spec.name):
            out_cols.append(col.cast("string").alias(spec.name))
            continue
        out_cols.append(col.cast(spec.spark_type).alias(spec.name))
    typed_rows = shift_person_dates(deid, table, good.select(*out_cols, *LINEAGE))
    return with_id_keys(deid, table, typed_rows), rejects, extra


def read_export(spark: SparkSession, deid: Deidentifier, input_path: str) -> OmopExport:
    """Parse a CDM export folder into typed v5.4 frames with id keys (nothing is written).

    Args:
        spark: the session.
        deid: the run's de-identifier (pseudonyms of identifier columns).
        input_path: folder with one file per CDM table.
    """
    files, unknown, version = discover(spark, input_path)
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
            extra = [safe_label(c, prefix="column") for c in extra]  # header names are input text
            dropped_columns[f.table] = extra
            logger.warning("%s: columns not in CDM v5.4 ignored: %s", f.table, ", ".join(extra))
        tables[f.table] = frame if f.table not in tables else tables[f.table].unionByName(frame)
        rejects.append(rej)
    rej_all = union_all([empty_frame(spark, "rejects"), *rejects])
    filt_all = union_all([empty_frame(spark, "filtered"), *filtered])
    logger.info("omop export: %d tables, CDM v%s", len(tables), version)
    return OmopExport(version, tables, rej_all, filt_all, rows_read, files, unknown, dropped_columns)


def extract(spark: SparkSession, env: EtlEnv, input_path: str) -> SourceBatch:
    """``mlhops etl --source omop``: a CDM export's typed tables for the loader, which gives them
    this warehouse's ids, MERGEs them on their primary keys (:mod:`mlhops.etl.steps.cdm`) and
    quarantines the rejected rows.

    Args:
        spark: the session.
        env: the run's environment (de-identifier).
        input_path: export folder.

    Returns:
        A batch of layout ``omop-cdm-5.3``/``omop-cdm-5.4`` whose ``cdm_tables`` hold the rows.

    Raises:
        DataQualityError: no CDM table in the folder.
    """
    export = read_export(spark, env.deid, input_path)
    return source_batch(
        spark, source=SOURCE, layout=f"omop-cdm-{export.version}", rows_read=export.rows_read,
        frames={"rejects": export.rejects, "filtered": export.filtered},
        input_files=[checksum(spark, f.path) for f in export.files], cdm_tables=export.tables,
    )
