"""DICOM files -> per-instance header records, rejects and filtered rows (Spark executors).

Files are listed with Spark's ``binaryFile`` source (recursively), selecting only ``path`` and
``length``, so Spark never opens them; the executors then open each path and read only its header
bytes (:mod:`mlhops.etl.sources.dicom_read`, parsed by
:mod:`mlhops.etl.sources.dicom_header`): pixel data is never shipped through Spark. Each file's
whole-content SHA-256 is streamed on the executor as before. Local paths and ``file:`` URIs are
opened directly, other schemes through fsspec where it can serve them; input that neither can
(e.g. ``s3a://`` without s3fs, ``dbfs:/`` needing a workspace token) falls back to reading whole
files through ``binaryFile``'s ``content``, since Hadoop's FileSystem is out of the Python
workers' reach. Both routes give the same records.
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

from mlhops.frames import union_all
from mlhops.errors import DataQualityError
from mlhops.etl.batch import ImageInstances, SourceBatch, source_batch
from mlhops.etl.env import EtlEnv
from mlhops.etl.files import InputFile
from mlhops.etl.sources import dicom_omop
from mlhops.etl.sources.dicom_header import (
    HEADER_COLUMNS,
    HEADER_SCHEMA,
    STATUS_DICOMDIR,
    STATUS_ERROR,
    STATUS_IMAGE,
    parse_header,
)
from mlhops.etl.sources.dicom_read import parse_path
from mlhops.io import Catalog, read_table, table_exists
from mlhops.io.fs import empty_files, exists, qualified, readable_by_path
from mlhops.io.tables.etl import ID_MAP

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
MISSING_REFERENCED = "file referenced by DICOMDIR does not exist"
# Spark's binaryFile source skips empty files: they are listed on the driver instead.
EMPTY_FILE = "empty file (0 bytes)"

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


def _parse_listed_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for pdf in batches:
        parsed = [parse_path(path) for path in pdf["path"]]
        out = pd.DataFrame.from_records([record for record, _ in parsed], columns=HEADER_COLUMNS)
        out.insert(0, "sha256", [sha for _, sha in parsed])
        out.insert(0, "length", pdf["length"].astype("int64").values)
        out.insert(0, "path", pdf["path"].values)
        for col in ("rows", "columns"):
            out[col] = out[col].astype("Int32")
        yield out


def list_files(spark: SparkSession, paths: list[str]) -> DataFrame:
    """``binaryFile`` rows (path, length) of files and folders (recursive), without their bytes.

    ``content`` is not selected, so Spark's reader never opens a file (the scan's ReadSchema is
    ``path``/``length`` only); the paths are listed as Spark lists them (``file:/...``).
    """
    return (
        spark.read.format("binaryFile")
        .option("recursiveFileLookup", "true")
        .load(paths)
        .select("path", "length")
    )


def read_files(spark: SparkSession, paths: list[str]) -> DataFrame:
    """``binaryFile`` rows (path, length, content) of files and folders (recursive): whole files,
    for input the executors cannot open themselves."""
    return (
        spark.read.format("binaryFile")
        .option("recursiveFileLookup", "true")
        .load(paths)
        .select("path", "length", "content")
    )


def parse_listed(files: DataFrame) -> DataFrame:
    """Parse listed files (path, length) into header records on the executors, each executor
    opening its paths and reading only the header bytes (one row per file)."""
    return files.mapInPandas(_parse_listed_partition, _PARSED_SCHEMA)


def parse_files(files: DataFrame) -> DataFrame:
    """Parse binaryFile rows (path, length, content) into header records on the executors."""
    return files.mapInPandas(_parse_partition, _PARSED_SCHEMA)


def parse_inputs(spark: SparkSession, paths: list[str]) -> DataFrame:
    """Header records of the files under ``paths``: read by path on the executors where they can
    open the file system, else from whole files through ``binaryFile`` (see the module doc)."""
    readable = {p: readable_by_path(qualified(spark, p)) for p in paths}
    by_path = [p for p in paths if readable[p]]
    shipped = [p for p in paths if not readable[p]]
    frames = []
    if by_path:
        frames.append(parse_listed(list_files(spark, by_path)))
    if shipped:
        logger.info(
            "%d DICOM inputs on file systems the executors cannot open: reading whole files", len(shipped)
        )
        frames.append(parse_files(read_files(spark, shipped)))
    return union_all(frames)


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
    present: list[str] = []
    missing: list[str] = []
    for p in paths:
        (present if exists(spark, p) else missing).append(p)
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
    parsed = parse_inputs(spark, input_paths).persist()
    listed = parsed.select("path")
    refs = _referenced(parsed).join(listed, "path", "left_anti").collect()
    present, missing = _existing(spark, sorted(r["path"] for r in refs))
    if present:
        parsed = parsed.unionByName(parse_inputs(spark, present)).persist()
    if missing:
        logger.warning("%d files referenced by DICOMDIR indexes are missing", len(missing))
    absent = [(p, MISSING_REFERENCED) for p in missing] + [(p, EMPTY_FILE) for p in empty_files(spark, input_paths)]
    missing_df = spark.createDataFrame(absent, "path string, reason string")

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
            lineage.join(missing_df, "path").select(*lin, F.lit(None).cast("string").alias("field"), "reason")
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


def _input_files(files: DataFrame) -> list[InputFile]:
    """Input file lineage; checksums were computed on the executors while parsing."""
    return [
        InputFile(path=r["path"], name=r["source_file"], size=int(r["length"]), sha256=r["sha256"])
        for r in files.orderBy("path").collect()
    ]


@dataclass(frozen=True)
class ImagingInput:
    """Parsed imaging input of any format, ready for :func:`imaging_batch`.

    ``instances`` are instance records (see :class:`~mlhops.etl.batch.ImageInstances`);
    ``rejects``/``filtered`` are rows of ``file_table`` already left out while parsing;
    ``events`` are further facts of the same instances (e.g. tabular findings) with their own
    logical tables in ``events_rows_read``.
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


def _known_persons(spark: SparkSession, catalog: Catalog) -> DataFrame | None:
    """Persons already in ``mlhops.id_map`` (None: empty warehouse)."""
    if not table_exists(spark, catalog, ID_MAP):
        return None
    return read_table(spark, catalog, ID_MAP).where(F.col("kind") == "person")


def imaging_batch(spark: SparkSession, env: EtlEnv, inp: ImagingInput) -> SourceBatch:
    """Instance records (DICOM headers, tabular imaging metadata) -> the loader's batch: persons,
    imaging procedures and acquisition measurements, with the instances as its imaging part.

    The imaging builder of image files and image metadata (DICOM files, ChestX-ray14 metadata);
    the loader then writes the MI-CDM tables (:mod:`mlhops.etl.steps.imaging`). Conservation
    covers ``inp.file_table`` (instance of a loaded series, quarantined or filtered) and the
    logical tables ``dicom_patients``, ``dicom_studies`` and ``dicom_series``.
    """
    type_id = int(env.type_concepts({"dicom": dicom_omop.DEFAULT_TYPE_CONCEPT_ID})["dicom"])
    instances = inp.instances.localCheckpoint(eager=True)
    known = _known_persons(spark, env.catalog)
    persons, patient_filtered, patient_rows = dicom_omop.patients(instances, known, env.deid)
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
    part = ImageInstances(
        instances=instances, alg_system=inp.alg_system, type_concept_id=type_id, file_table=inp.file_table,
        files_read=inp.files_read, rejects=inp.rejects, filtered=inp.filtered,
    )
    return source_batch(
        spark, source=inp.source, layout=inp.layout, rows_read=rows_read, input_files=inp.input_files,
        frames={"events": events, "persons": persons, "filtered": patient_filtered.unionByName(no_params)},
        image_instances=part,
    )


def extract(spark: SparkSession, env: EtlEnv, input_path: str) -> SourceBatch:
    """``mlhops etl --source dicom``: DICOM headers -> persons, imaging procedures, acquisition
    measurements, and (written by the loader after them) ``omop.image_occurrence``/``image_feature``.

    Conservation: every file read (``dicom_files``) ends as an instance of a loaded series, a
    quarantined file (pydicom's reason, a missing required attribute, or its series' procedure
    not loaded) or a filtered file (DICOMDIR index, duplicate SOP instance).

    Args:
        spark: the session.
        env: the run's environment (catalog, de-identifier, type concepts).
        input_path: folder (searched recursively) or file.

    Raises:
        DataQualityError: the input holds no file.
    """
    import pydicom

    raw = extract_instances(spark, [input_path])
    if raw.files_read == 0:
        raise DataQualityError(f"{input_path}: no files to read: nothing to load")
    return imaging_batch(spark, env, ImagingInput(
        source=SOURCE, layout=f"dicom (pydicom {pydicom.__version__})",
        alg_system=f"pydicom {pydicom.__version__} header parser", file_table=SOURCE_TABLE,
        files_read=raw.files_read, instances=raw.instances, rejects=raw.rejects, filtered=raw.filtered,
        input_files=_input_files(raw.files),
    ))
