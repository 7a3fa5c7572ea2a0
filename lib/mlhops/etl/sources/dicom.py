"""DICOM files -> per-instance header records, rejects and filtered rows (Spark executors).

Files are read with Spark's ``binaryFile`` source (recursively) and parsed on the executors by
:func:`mlhops.etl.sources.dicom_header.parse_header` (headers only, pixel data never decoded).
DICOMDIR index files are followed: the files they reference are read too, also when they lie
outside the listed input, and a reference to a file that does not exist is quarantined.

Every file read ends in exactly one of: an instance record, a reject (with pydicom's reason or
the missing required attribute) or a filtered row (DICOMDIR index, duplicate SOP instance).
Lineage uses the file *name* (never its folders, which PACS exports name after patients) and
the file's 1-based rank in the sorted listing as ``source_line``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mlhops.config.model import Settings
from mlhops.errors import DataQualityError
from mlhops.etl.batch import SourceBatch, empty_frame
from mlhops.etl.conservation import Conservation, account
from mlhops.etl.deid import Deidentifier
from mlhops.etl.files import InputFile
from mlhops.etl.ids import ID_MAP_TABLE
from mlhops.etl.loader import load_batch
from mlhops.etl.quarantine import QUARANTINE_TABLE, quarantine_rows, write_quarantine
from mlhops.etl.sources import SourceLoad, dicom_omop
from mlhops.etl.sources.imaging_tables import write_image_tables
from mlhops.etl.sources.dicom_header import (
    HEADER_COLUMNS,
    HEADER_SCHEMA,
    STATUS_DICOMDIR,
    STATUS_ERROR,
    STATUS_IMAGE,
    parse_header,
)
from mlhops.io import Catalog, read_table, table_exists, table_version

logger = logging.getLogger(__name__)

SOURCE = "dicom"
SOURCE_TABLE = "dicom_files"
# Attributes without which an instance cannot become an image_occurrence (MI-CDM required).
REQUIRED_ATTRIBUTES: dict[str, str] = {
    "patient_id": "PatientID",
    "study_uid": "StudyInstanceUID",
    "series_uid": "SeriesInstanceUID",
    "image_date": "SeriesDate/StudyDate/AcquisitionDate/ContentDate",
}
FILTER_DICOMDIR = "DICOMDIR index (its referenced files are read as instances)"
FILTER_DUPLICATE = "duplicate SOP instance"

_PARSED_SCHEMA = T.StructType(
    [
        T.StructField("path", T.StringType(), False),
        T.StructField("length", T.LongType(), False),
        T.StructField("sha256", T.StringType(), False),
    ]
    + HEADER_SCHEMA.fields
)


@dataclass(frozen=True)
class DicomBatch:
    """Parsed DICOM input: instances (with lineage) and the row accounting."""

    instances: DataFrame
    rejects: DataFrame  # lineage + field + reason
    filtered: DataFrame  # lineage + reason
    files_read: int
    files: DataFrame  # path, source_file, length, sha256 of every file read (not the missing ones)


def _parse_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for pdf in batches:
        contents = [bytes(content) for content in pdf["content"]]
        records = [parse_header(content) for content in contents]
        out = pd.DataFrame.from_records(records, columns=HEADER_COLUMNS)
        out.insert(0, "sha256", [hashlib.sha256(content).hexdigest() for content in contents])
        out.insert(0, "length", pdf["length"].astype("int64").values)
        out.insert(0, "path", pdf["path"].values)
        for col in ("rows", "columns"):
            out[col] = out[col].astype("Int32")
        yield out


def read_files(spark: SparkSession, paths: list[str]) -> DataFrame:
    """``binaryFile`` rows (path, length, content) of files and folders (recursive)."""
    return (
        spark.read.format("binaryFile")
        .option("recursiveFileLookup", "true")
        .load(paths)
        .select("path", "length", "content")
    )


def parse_files(files: DataFrame) -> DataFrame:
    """Parse binaryFile rows into header records on the executors (one row per file)."""
    return files.mapInPandas(_parse_partition, _PARSED_SCHEMA)


def _referenced(parsed: DataFrame) -> DataFrame:
    """Absolute paths referenced by the DICOMDIRs among parsed files."""
    folder = F.regexp_replace("path", "/[^/]*$", "")
    return (
        parsed.where(F.col("status") == STATUS_DICOMDIR)
        .select(F.explode("referenced_files").alias("ref"), folder.alias("folder"))
        .select(F.concat_ws("/", "folder", "ref").alias("path"))
        .distinct()
    )


def _existing(spark: SparkSession, paths: list[str]) -> tuple[list[str], list[str]]:
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    present: list[str] = []
    missing: list[str] = []
    for p in paths:
        hpath = jvm.org.apache.hadoop.fs.Path(p)
        (present if hpath.getFileSystem(conf).exists(hpath) else missing).append(p)
    return present, missing


def _image_date(col_date: str) -> F.Column:
    raw = F.regexp_replace(F.col(col_date), r"[.\-/]", "")
    return F.try_to_timestamp(raw, F.lit("yyyyMMdd")).cast("date")


def extract_instances(spark: SparkSession, input_paths: list[str]) -> DicomBatch:
    """Read and parse DICOM input, follow DICOMDIRs, and split into instances/rejects/filtered.

    Args:
        spark: the session.
        input_paths: folders and/or files.
    """
    parsed = parse_files(read_files(spark, input_paths)).persist()
    listed = parsed.select("path")
    refs = _referenced(parsed).join(listed, "path", "left_anti").collect()
    present, missing = _existing(spark, sorted(r["path"] for r in refs))
    if present:
        parsed = parsed.unionByName(parse_files(read_files(spark, present))).persist()
    if missing:
        logger.warning("%d files referenced by DICOMDIR indexes are missing", len(missing))
    missing_df = spark.createDataFrame([(p,) for p in missing], "path string")

    everything = parsed.select("path", "status").unionByName(
        missing_df.select("path", F.lit("missing").alias("status"))
    )
    rank = F.row_number().over(Window.orderBy("path")).cast("long")
    lineage = everything.select(
        "path",
        F.lit(SOURCE_TABLE).alias("source_table"),
        F.regexp_extract("path", r"([^/]*)$", 1).alias("source_file"),
        rank.alias("source_line"),
    )
    df = parsed.join(lineage, "path").withColumn(
        "image_date",
        F.coalesce(*[_image_date(c) for c in ("series_date", "study_date", "acquisition_date", "content_date")]),
    )
    lin = ["source_table", "source_file", "source_line"]

    missing_required = F.coalesce(
        *[F.when(F.col(c).isNull(), F.lit(tag)) for c, tag in REQUIRED_ATTRIBUTES.items()],
        F.lit(None).cast("string"),
    )
    images = df.where(F.col("status") == STATUS_IMAGE).withColumn("_missing", missing_required)
    rejects = (
        df.where(F.col("status") == STATUS_ERROR)
        .select(*lin, "field", "reason")
        .unionByName(
            images.where(F.col("_missing").isNotNull()).select(
                *lin, F.col("_missing").alias("field"), F.lit("missing required DICOM attribute").alias("reason")
            )
        )
        .unionByName(
            lineage.join(missing_df, "path").select(
                *lin, F.lit(None).cast("string").alias("field"), F.lit("file referenced by DICOMDIR does not exist").alias("reason")
            )
        )
    )
    complete = images.where(F.col("_missing").isNull()).drop("_missing")
    first = F.row_number().over(Window.partitionBy("sop_instance_uid").orderBy("source_line"))
    ranked = complete.withColumn(
        "_n", F.when(F.col("sop_instance_uid").isNull(), F.lit(1)).otherwise(first)
    )
    instances = ranked.where(F.col("_n") == 1).drop("_n", "status", "reason", "field", "referenced_files")
    filtered = (
        df.where(F.col("status") == STATUS_DICOMDIR)
        .select(*lin, F.lit(FILTER_DICOMDIR).alias("reason"))
        .unionByName(ranked.where(F.col("_n") > 1).select(*lin, F.lit(FILTER_DUPLICATE).alias("reason")))
    )
    files_read = lineage.count()
    files = parsed.join(lineage, "path").select("path", "source_file", "length", "sha256")
    return DicomBatch(instances=instances, rejects=rejects, filtered=filtered, files_read=files_read, files=files)


def _type_concept(settings: Settings) -> int:
    types = settings.etl.standard_concepts.get("type", {})
    return int(types.get("dicom", dicom_omop.DEFAULT_TYPE_CONCEPT_ID))


def _input_files(files: DataFrame) -> list[InputFile]:
    """Input file lineage; checksums were computed on the executors while parsing."""
    return [
        InputFile(path=r["path"], name=r["source_file"], size=int(r["length"]), sha256=r["sha256"])
        for r in files.orderBy("path").collect()
    ]


@dataclass(frozen=True)
class ImagingInput:
    """Parsed imaging input of any format, ready for :func:`load_imaging`.

    ``instances`` are instance records (the columns of
    :data:`~mlhops.etl.sources.dicom_header.HEADER_SCHEMA` that are not parse status, plus
    lineage of ``file_table`` and ``image_date``). ``rejects``/``filtered`` are rows of
    ``file_table`` already left out while parsing; ``events`` are further facts of the same
    instances (e.g. tabular findings) with their own logical tables in ``events_rows_read``.
    """

    source: str
    layout: str
    alg_system: str  # what extracted the image features (image_feature.alg_system)
    file_table: str
    files_read: int
    instances: DataFrame
    rejects: DataFrame
    filtered: DataFrame
    input_files: list[InputFile]
    events: DataFrame | None = None
    events_rows_read: dict[str, int] | None = None


def load(spark: SparkSession, settings: Settings, input_path: str, run_id: str) -> SourceLoad:
    """``mlhops etl --source dicom``: DICOM headers -> persons, imaging procedures, acquisition
    measurements (through the shared loader) and ``omop.image_occurrence``/``image_feature``.

    Conservation: every file read (``dicom_files``) ends as an instance of a loaded series, a
    quarantined file (pydicom's reason, a missing required attribute, or its series' procedure
    not loaded) or a filtered file (DICOMDIR index, duplicate SOP instance); the logical tables
    ``dicom_patients``, ``dicom_studies`` and ``dicom_series`` are accounted for by the loader.

    Args:
        spark: the session.
        settings: validated settings (salt, date shift, vocabulary).
        input_path: folder (searched recursively) or file.
        run_id: this run's id.

    Raises:
        DataQualityError: conservation does not balance (a bug, never data).
    """
    import pydicom

    raw = extract_instances(spark, [input_path])
    return load_imaging(spark, settings, ImagingInput(
        source=SOURCE, layout=f"dicom (pydicom {pydicom.__version__})",
        alg_system=f"pydicom {pydicom.__version__} header parser", file_table=SOURCE_TABLE,
        files_read=raw.files_read, instances=raw.instances, rejects=raw.rejects, filtered=raw.filtered,
        input_files=_input_files(raw.files),
    ), run_id)


def load_imaging(spark: SparkSession, settings: Settings, inp: ImagingInput, run_id: str) -> SourceLoad:
    """Instance records (DICOM headers, tabular imaging metadata) -> persons, imaging procedures,
    acquisition measurements (through the shared loader) and the MI-CDM imaging tables.

    The imaging builder of image files and image metadata (DICOM files, ChestX-ray14 metadata);
    the imaging studies of EHR exports go through :mod:`mlhops.etl.sources.ehr_imaging`. Both
    write the MI-CDM tables with :func:`~mlhops.etl.sources.imaging_tables.write_image_tables`.
    Conservation covers ``inp.file_table`` (instance of a loaded series, quarantined or filtered)
    and the loader's logical tables.

    Raises:
        DataQualityError: conservation does not balance (a bug, never data).
    """
    catalog = Catalog(settings.warehouse)
    deid = Deidentifier(settings)
    type_id = _type_concept(settings)
    instances = inp.instances.localCheckpoint(eager=True)
    known = read_table(spark, catalog, ID_MAP_TABLE).where(F.col("kind") == "person") if table_exists(
        spark, catalog, ID_MAP_TABLE) else None
    persons, patient_filtered, patient_rows = dicom_omop.patients(instances, known, deid)
    # Materialised now: ``known`` reads mlhops.id_map, which the loader is about to extend with
    # these very persons (re-evaluated later, they would count as loaded *and* already known).
    persons = persons.localCheckpoint(eager=True)
    patient_filtered = patient_filtered.localCheckpoint(eager=True)
    studies = dicom_omop.study_events(instances, type_id)
    params, no_params = dicom_omop.series_events(instances, type_id)
    events = studies.unionByName(params)
    if inp.events is not None:
        events = events.unionByName(inp.events)
    events = events.localCheckpoint(eager=True)
    counts = {
        r["t"]: int(r["n"]) for r in events.select(F.col("source_table").alias("t"), "source_line").distinct()
        .unionByName(no_params.select(F.col("source_table").alias("t"), "source_line"))
        .groupBy("t").agg(F.count(F.lit(1)).alias("n")).collect()
    }
    rows_read = {
        dicom_omop.TABLE_PATIENTS: patient_rows.count(),
        dicom_omop.TABLE_STUDIES: counts.get(dicom_omop.TABLE_STUDIES, 0),
        dicom_omop.TABLE_SERIES: counts.get(dicom_omop.TABLE_SERIES, 0),
        **(inp.events_rows_read or {}),
    }
    batch = SourceBatch(
        source=inp.source, layout=inp.layout, events=events, persons=persons,
        visits=empty_frame(spark, "visits"), providers=empty_frame(spark, "providers"),
        care_sites=empty_frame(spark, "care_sites"), locations=empty_frame(spark, "locations"),
        payer_periods=empty_frame(spark, "payer_periods"), costs=empty_frame(spark, "costs"),
        rejects=empty_frame(spark, "rejects"), filtered=patient_filtered.unionByName(no_params),
        rows_read=rows_read, input_files=inp.input_files,
    )
    result = load_batch(spark, settings, batch, run_id)

    ids = read_table(spark, catalog, ID_MAP_TABLE).where(F.col("kind") == "event").select("key_hash", "id")
    procedures = read_table(spark, catalog, "omop.procedure_occurrence")
    measurements = read_table(spark, catalog, "omop.measurement")
    rows = dicom_omop.image_rows(instances, ids, procedures, measurements, deid, type_id, inp.alg_system)
    write_image_tables(spark, catalog, deid, rows.image_occurrence, rows.image_feature, run_id, result)

    # Input rows: instances of loaded series, quarantined rows, filtered rows.
    file_rejects = inp.rejects.unionByName(rows.rejects).localCheckpoint(eager=True)
    quarantined_names = {r["source_file"] for r in file_rejects.select("source_file").distinct().collect()}
    q_files = [f for f in inp.input_files if f.name in quarantined_names]
    write_quarantine(quarantine_rows(file_rejects, run_id=run_id, source=inp.source, files=q_files), catalog)
    result.tables[QUARANTINE_TABLE] = table_version(spark, catalog, QUARANTINE_TABLE) or 0
    file_account = account({inp.file_table: inp.files_read}, rows.instance_lineage, file_rejects, inp.filtered)
    assert result.conservation is not None
    result.conservation = Conservation(tables={**result.conservation.tables, **file_account.tables})
    if not result.conservation.balanced:
        raise DataQualityError(f"conservation does not balance for {result.conservation.unbalanced()}")
    return SourceLoad(layout=inp.layout, result=result, input_files=inp.input_files)
