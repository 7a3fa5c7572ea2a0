"""Synthea CSV export (2.x to 3.3 layouts) -> :class:`~mlhops.etl.batch.SourceBatch`.

Each file's layout is resolved from its own header (:mod:`~mlhops.etl.sources.synthea_layout`)
before any parsing: a required column that is missing fails the run with a
:class:`~mlhops.etl.sources.synthea_layout.SyntheaLayoutError` naming the file and the column;
the same per-file parsers then read each optional column only when the header has it. The
version label (:func:`detect_layout`) only summarises the export for logs and run metrics.

Files without an OMOP target are read, counted and recorded as filtered (``careplans``), as are
reference files joined into other rows (``payers``) and transactions aggregated into cost rows.
``imaging_studies`` rows are imaging procedures (one per study) for the shared loader, and their
series become ``omop.image_occurrence`` rows (:mod:`mlhops.etl.sources.ehr_imaging`).

What the folder holds besides the tables is never dropped silently:

- One table in two files (``patients.csv`` and ``patients.csv.gz``) fails the run before any
  file is read, naming both: a hospital data engineer expects an export to hold each table
  once, and a second copy is a re-export or an unpacked archive left behind. Loading both would
  count every row twice (their duplicates filtered in file order, so whichever file sorts first
  would win for changed rows); picking one would silently lose the other's rows. Only the person
  who made the export knows which file is current.
- Files that are not ``.csv``/``.csv.gz`` tables (``README``, licence texts, ``.json``) are
  counted as rows of the logical table :data:`UNREAD_FILES`, filtered as not read, so each run
  reports them in its filtered counts (and logs how many there are).
- A header that cannot be read (empty file, another delimiter, a column twice) or a required
  column that is missing fails the run with a :class:`~mlhops.errors.SchemaError` naming the
  file and the column; an export without any data row fails instead of loading nothing.
"""

from __future__ import annotations

import logging
import re

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.errors import DataQualityError
from mlhops.etl import parse
from mlhops.etl.batch import SourceBatch, source_batch
from mlhops.etl.csv_reader import check_header, file_name, header_columns, read_all
from mlhops.etl.env import EtlEnv
from mlhops.etl.events import ALLERGY, LINEAGE_COLUMNS
from mlhops.etl.files import checksum
from mlhops.etl.sources import ehr_imaging
from mlhops.etl.sources import synthea_tables as st
from mlhops.etl.sources.synthea_layout import FileLayout, resolve_layout
from mlhops.io.fs import list_files

logger = logging.getLogger(__name__)

SOURCE = "synthea-csv"
REQUIRED_FILES = ("patients", "encounters")
# Logical table of the files of the export folder that are not CSV tables (counted, not read).
UNREAD_FILES = "unread_files"
NOT_A_TABLE = "not read: not a .csv/.csv.gz table file"
# Table names taken from file names are kept only when they look like Synthea's.
_TABLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Default Type Concept ids, used when etl.standard_concepts.type lacks a key.
_TYPE_DEFAULTS = {"ehr": 32817, "ehr_prescription": 32838, "claim": 32810}

IMAGING = "imaging_studies"
# Columns of imaging_studies.csv an image_occurrence needs (Synthea 2.x exports from before
# series/instance UIDs and procedure codes have none: that file is filtered as without target).
IMAGING_COLUMNS = ("Id", "PROCEDURE_CODE", "SERIES_UID")
NO_TARGET = "no OMOP CDM v5.4 target table"
REFERENCE = "reference table joined into payer_plan_period"
# Files parsed into the batch (others are read, counted and filtered as without target).
HANDLED = frozenset({
    "patients", "encounters", "organizations", "providers", "payer_transitions", "claims", "claims_transactions",
    "conditions", "medications", "immunizations", "procedures", "observations", "allergies", "devices",
    "supplies", "imaging_studies",
})


def _table_name(path: str) -> str | None:
    name = file_name(path).lower()
    for ext in (".csv.gz", ".csv"):
        if name.endswith(ext):
            table = name[: -len(ext)]
            return table if _TABLE_NAME.fullmatch(table) else None
    return None


def table_files(paths: list[str], input_path: str) -> tuple[dict[str, str], list[str]]:
    """(table -> its file, the files that are not tables) of an export folder's listing.

    Raises:
        DataQualityError: a table is in more than one file (see the module docstring).
    """
    by_table: dict[str, list[str]] = {}
    unread: list[str] = []
    for p in paths:
        table = _table_name(p)
        if table is None:
            unread.append(p)
        else:
            by_table.setdefault(table, []).append(p)
    twice = {t: ps for t, ps in sorted(by_table.items()) if len(ps) > 1}
    if twice:
        found = "; ".join(f"{t} in {' and '.join(file_name(p) for p in ps)}" for t, ps in twice.items())
        raise DataQualityError(
            f"{input_path}: a table is in more than one file ({found}); a Synthea export holds each table once: "
            "keep the current file and move the others out of the folder")
    return {t: ps[0] for t, ps in by_table.items()}, unread


def _unread_rows(spark: SparkSession, unread: list[str]) -> DataFrame:
    """Filtered rows of :data:`UNREAD_FILES`, one per file (lineage: file name, line 0)."""
    rows = [(UNREAD_FILES, file_name(p), 0, NOT_A_TABLE) for p in unread]
    return spark.createDataFrame(rows, "source_table string, source_file string, source_line long, reason string")


def detect_layout(headers: dict[str, list[str]]) -> str:
    """``"synthea-3.3"``, ``"synthea-3.x"`` or ``"synthea-2.x"`` from the headers of the
    export's files: a summary label only (parsing follows each file's own header)."""
    if (
        "START_DATE" in headers.get("payer_transitions", [])
        or "SYSTEM" in headers.get("conditions", [])
        or "SYSTEM" in headers.get("procedures", [])
    ):
        return "synthea-3.3"
    three = (
        "START" in headers.get("procedures", [])
        or "SYSTEM" in headers.get("allergies", [])
        or "MEMBERID" in headers.get("payer_transitions", [])
        or "claims" in headers
    )
    return "synthea-3.x" if three else "synthea-2.x"


def _clinical(
    tables: dict[str, DataFrame], layouts: dict[str, FileLayout], types: dict[str, int]
) -> tuple[list[DataFrame], list[DataFrame]]:
    identifiers = st.patient_identifiers(tables["patients"])
    ehr, rx = types["ehr"], types["ehr_prescription"]
    events, rejects = [], []

    def add(result: tuple[DataFrame, DataFrame]) -> None:
        events.append(result[0])
        rejects.append(result[1])

    snomed = F.lit("SNOMED")
    if "conditions" in tables:
        df = tables["conditions"]
        add(st.clinical_events(df, start="START", end="STOP", vocabulary=st._vocab_from_system(df, "SNOMED"),
                               code="CODE", default_domain="Condition", type_concept_id=ehr))
    if "medications" in tables:
        df = tables["medications"]
        add(st.clinical_events(
            df, start="START", end="STOP", vocabulary=F.lit("RxNorm"), code="CODE", default_domain="Drug",
            type_concept_id=rx,
            extra={"quantity": parse.num("DISPENSES"), "provider_key": F.lit(None)},
            extra_checks=[parse.parses("DISPENSES", parse.num("DISPENSES"), "number")],
        ))
    if "immunizations" in tables:
        df = tables["immunizations"]
        add(st.clinical_events(df, start="DATE", end=None, vocabulary=F.lit("CVX"), code="CODE",
                               default_domain="Drug", type_concept_id=ehr, extra={"quantity": F.lit(1.0)}))
    if "procedures" in tables:
        df = tables["procedures"]
        lay = layouts["procedures"]
        start = lay.col("START")
        end = lay.col("STOP") if lay.has("STOP") else None
        add(st.clinical_events(df, start=start, end=end, vocabulary=st._vocab_from_system(df, "SNOMED"),
                               code="CODE", default_domain="Procedure", type_concept_id=ehr))
    if "observations" in tables:
        df = tables["observations"]
        numeric = parse.num("VALUE")
        is_numeric = (F.lower(F.col("TYPE")) == "numeric") if "TYPE" in df.columns else numeric.isNotNull()
        key_extra: list[str | Column] = ["VALUE", "UNITS"] + (["CATEGORY"] if "CATEGORY" in df.columns else [])
        obs_events, obs_rejects = st.clinical_events(
            df, start="DATE", end=None, vocabulary=F.lit("LOINC"), code="CODE",
            default_domain=F.when(is_numeric, F.lit("Measurement")).otherwise(F.lit("Observation")),
            type_concept_id=ehr, key_extra=key_extra,
            extra={
                "value_as_number": F.when(is_numeric, numeric),
                "value_as_string": F.when(~is_numeric, F.col("VALUE")),
                "value_source_value": F.substring(F.col("VALUE"), 1, 50),
                "unit_source_value": F.col("UNITS"),
            },
            extra_checks=[("VALUE", is_numeric & F.col("VALUE").isNotNull() & numeric.isNull(), "unparseable number")],
        )
        add((st.redact_identifiers(obs_events, identifiers), obs_rejects))
    if "allergies" in tables:
        df = tables["allergies"]
        add(st.clinical_events(df, start="START", end="STOP", vocabulary=st.allergy_vocabulary(df),
                               code="CODE", default_domain=ALLERGY, type_concept_id=ehr))
    if "devices" in tables:
        df = tables["devices"]
        # UDI carries the device serial number (a HIPAA identifier): never loaded.
        add(st.clinical_events(df, start="START", end="STOP", vocabulary=snomed, code="CODE",
                               default_domain="Device", type_concept_id=ehr, extra={"quantity": F.lit(1.0)}))
    if "supplies" in tables:
        df = tables["supplies"]
        add(st.clinical_events(
            df, start="DATE", end=None, vocabulary=snomed, code="CODE", default_domain="Device",
            type_concept_id=ehr, extra={"quantity": parse.num("QUANTITY")},
            extra_checks=[parse.parses("QUANTITY", parse.num("QUANTITY"), "number")],
        ))
    return events, rejects


def _has_imaging_series(tables: dict[str, DataFrame]) -> bool:
    return IMAGING in tables and all(c in tables[IMAGING].columns for c in IMAGING_COLUMNS)


def _imaging(df: DataFrame, ehr: int) -> tuple[DataFrame, DataFrame, DataFrame]:
    """imaging_studies.csv (one row per instance) -> (imaging procedure events, rejects, series).

    The study (``Id``) is the procedure fact: its further instance rows repeat its key and are
    filtered by the loader as duplicates. Every row that parses also gives its series
    (:data:`~mlhops.etl.sources.ehr_imaging.SERIES_SCHEMA`), an image_occurrence once its
    study is loaded.
    """
    df = df.withColumn("_study", F.col("Id"))
    key_extra: list[str | Column] = ["_study"]
    events, rejects = st.clinical_events(
        df, start="DATE", end=None, vocabulary=F.lit("SNOMED"), code="PROCEDURE_CODE",
        default_domain="Procedure", type_concept_id=ehr, key_extra=key_extra,
        extra_checks=[parse.required("Id"), parse.required("SERIES_UID")],
    )
    optional = {c: F.col(c) if c in df.columns else F.lit(None).cast("string") for c in ("MODALITY_CODE", "BODYSITE_CODE")}
    series = df.join(events.select("source_file", "source_line"), ["source_file", "source_line"]).select(
        *LINEAGE_COLUMNS,
        st.event_key("DATE", "PROCEDURE_CODE", key_extra).alias("study_event_key"),
        F.col("PATIENT").alias("person_key"),
        F.col("Id").alias("study_uid"),  # the export has no Study Instance UID
        F.trim("SERIES_UID").alias("series_uid"),
        F.trim(optional["MODALITY_CODE"]).alias("modality"),
        F.trim(optional["BODYSITE_CODE"]).alias("body_site"),
        parse.ts("DATE").alias("series_ts"),
    )
    return events, rejects, series


def _read_export(
    spark: SparkSession, input_path: str, paths: dict[str, str], jobs: int
) -> tuple[dict[str, DataFrame], dict[str, int], dict[str, FileLayout]]:
    """(frame, data rows) of every table file of the export folder by table name, and the
    layouts of the files the parsers read (resolved before any file is parsed).

    Raises:
        DataQualityError: the folder lacks ``patients`` or ``encounters``.
        SyntheaLayoutError: a file lacks a required column.
    """
    missing = [t for t in REQUIRED_FILES if t not in paths]
    if missing:
        raise DataQualityError(f"{input_path}: not a Synthea CSV export (missing {', '.join(missing)}.csv)")
    layouts = resolve_layouts(spark, paths)
    tables: dict[str, DataFrame] = {}
    rows_read: dict[str, int] = {}
    ordered = sorted(paths.items())
    for (name, _), (df, n) in zip(ordered, read_all(spark, ordered, jobs)):
        tables[name] = df
        rows_read[name] = n
    if sum(rows_read.values()) == 0:
        raise DataQualityError(f"{input_path}: the export's {len(ordered)} CSV files have no data rows: nothing to load")
    return tables, rows_read, layouts


def resolve_layouts(spark: SparkSession, paths: dict[str, str]) -> dict[str, FileLayout]:
    """The layout of every file the parsers read, from the file headers (no Spark job).

    Raises:
        SchemaError: a header cannot be read as named columns (empty file, another delimiter, a
            column twice).
        SyntheaLayoutError: a file lacks a required column.
    """
    layouts: dict[str, FileLayout] = {}
    for table, path in sorted(paths.items()):
        header = header_columns(spark, path)
        check_header(file_name(path), header)
        layout = resolve_layout(table, file_name(path), header)
        if layout is not None:
            layouts[table] = layout
    return layouts


def _canonical(tables: dict[str, DataFrame], layouts: dict[str, FileLayout]) -> dict[str, DataFrame]:
    """Header columns spelled in another case than their role (``ID``) renamed to the role."""
    out: dict[str, DataFrame] = {}
    for name, df in tables.items():
        renames = layouts[name].renames() if name in layouts else {}
        out[name] = df.withColumnsRenamed(renames) if renames else df
    return out


def _entities(tables: dict[str, DataFrame], layouts: dict[str, FileLayout]) -> dict[str, list[DataFrame]]:
    """Persons, visits, locations, care sites, providers, payer periods and costs, with the
    rejects and filtered rows of their files (by ``SourceBatch`` frame kind)."""
    persons, res_locations, rejects_p = st.patients(tables["patients"])
    visits, rejects_v = st.encounters(tables["encounters"])
    out: dict[str, list[DataFrame]] = {
        "persons": [persons], "visits": [visits], "locations": [res_locations], "rejects": [rejects_p, rejects_v],
        "filtered": [], "care_sites": [], "providers": [], "payer_periods": [], "costs": [],
    }
    if "organizations" in tables:
        care_sites, org_locations, r = st.organizations(tables["organizations"])
        out["care_sites"].append(care_sites)
        out["locations"].append(org_locations)
        out["rejects"].append(r)
    if "providers" in tables:
        providers, r = st.providers(tables["providers"])
        out["providers"].append(providers)
        out["rejects"].append(r)
    if "payer_transitions" in tables:
        payer_periods, r = st.payer_transitions(
            tables["payer_transitions"], layouts["payer_transitions"], tables.get("payers"))
        out["payer_periods"].append(payer_periods)
        out["rejects"].append(r)
    if "claims" in tables:
        costs, r, t_rejects, t_filtered = st.claims_costs(tables["claims"], tables.get("claims_transactions"))
        out["costs"].append(costs)
        out["rejects"].append(r)
        if t_rejects is not None and t_filtered is not None:
            out["rejects"].append(t_rejects)
            out["filtered"].append(t_filtered)
    elif "claims_transactions" in tables:
        out["filtered"].append(
            tables["claims_transactions"].select(*LINEAGE_COLUMNS, F.lit("claim file missing").alias("reason")))
    return out


def _not_loaded(tables: dict[str, DataFrame]) -> list[DataFrame]:
    """Filtered rows of the files without an OMOP target (and of the reference file ``payers``)."""
    out = []
    for name, df in tables.items():
        if name == "payers":
            out.append(df.select(*LINEAGE_COLUMNS, F.lit(REFERENCE).alias("reason")))
        elif name not in HANDLED or (name == IMAGING and not _has_imaging_series(tables)):
            out.append(df.select(*LINEAGE_COLUMNS, F.lit(f"{NO_TARGET} ({name})").alias("reason")))
    return out


def extract(spark: SparkSession, env: EtlEnv, input_path: str) -> SourceBatch:
    """Parse a Synthea CSV export folder into the loader's batch, with the series of
    ``imaging_studies.csv`` (empty when the export has none) as its imaging part.

    Args:
        spark: the session.
        env: the run's environment (type concepts, concurrent jobs).
        input_path: folder with ``patients.csv``, ``encounters.csv``, ... (plain or gzip).

    Raises:
        DataQualityError: the folder lacks ``patients`` or ``encounters``, holds a table twice,
            or has no data row.
        SchemaError: a header cannot be read (names the file and the column).
        SyntheaLayoutError: a file lacks a column the ETL needs (names the file and the column).
    """
    paths, unread = table_files(list_files(spark, input_path), input_path)
    tables, rows_read, layouts = _read_export(spark, input_path, paths, env.etl.concurrent_jobs)
    if unread:
        logger.warning("synthea export: %d files are not CSV tables and were not read (counted as %s)",
                       len(unread), UNREAD_FILES)
        rows_read[UNREAD_FILES] = len(unread)
    layout = detect_layout({k: [c for c in v.columns if c not in (*LINEAGE_COLUMNS, "malformed")] for k, v in tables.items()})
    logger.info("synthea export %s: layout %s, %d files", input_path, layout, len(tables))
    types = env.type_concepts(_TYPE_DEFAULTS)
    tables = _canonical(tables, layouts)
    frames = _entities(tables, layouts)
    frames["events"], event_rejects = _clinical(tables, layouts, types)
    frames["rejects"] += event_rejects
    series = spark.createDataFrame([], ehr_imaging.SERIES_SCHEMA)
    if _has_imaging_series(tables):
        img_events, img_rejects, series = _imaging(tables[IMAGING], types["ehr"])
        frames["events"].append(img_events)
        frames["rejects"].append(img_rejects)
    frames["filtered"] += _not_loaded(tables)
    if unread:
        frames["filtered"].append(_unread_rows(spark, unread))
    files = [checksum(spark, p) for _, p in sorted(paths.items())]
    return source_batch(spark, source=SOURCE, layout=layout, rows_read=rows_read, frames=frames,
                        input_files=files, image_series=series)
