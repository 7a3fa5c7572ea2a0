"""NIH ChestX-ray14 ``Data_Entry_2017`` metadata -> the MI-CDM imaging tables and findings.

``mlhops etl --source cxr-metadata --input DIR`` reads every CSV under ``DIR`` whose header is
the ``Data_Entry_2017`` layout (image index, finding labels, follow-up #, patient id, age, sex,
view position, original image width/height, pixel spacing x/y; other CSVs such as
``BBox_List_2017.csv`` are skipped with a log line). One CSV row is one image; it becomes an
instance record of the same shape DICOM headers produce and goes through the one imaging
builder (:func:`mlhops.etl.sources.dicom.imaging_batch`): person, imaging procedure,
acquisition measurements (size, pixel spacing, view position, body part), ``image_occurrence``
and ``image_feature``. Rows of one image index are one instance, study and series (the layout
has no study grouping).

Findings (``Finding Labels``, ``|``-separated; ``No Finding`` is no finding) become events of
the logical table ``cxr_findings`` mapped by the shared core: labels with a SNOMED CT code
(:data:`FINDING_CODES`) land in the table of their standard concept's domain (a Condition for
pneumonia when the vocabulary has it), others keep concept 0 with the label as source value
(default domain Observation) and count as unmapped in ``mapping_rate``.

Dates: the layout has none. The image year is derived from the patient's age on it, relative
to :data:`REFERENCE_YEAR` (the data set's release): the patient's oldest-age image is dated in
that year, every other image ``max age - age`` years earlier, on 1 January plus the follow-up
number in days (keeps the within-patient order). The year of birth is therefore approximate
(``REFERENCE_YEAR - max age``, 1 January), as for DICOM headers that carry only PatientAge.
Patient ids are dataset-local: they are namespaced (:data:`PERSON_NAMESPACE`) so that patient
``1`` here never merges with a DICOM or EHR patient ``1``.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from mlhops.frames import union_all
from mlhops.errors import DataQualityError, SchemaError
from mlhops.etl import parse
from mlhops.etl.batch import SourceBatch
from mlhops.etl.csv_reader import check_header, file_name, header_columns, read_csv_with_lines
from mlhops.etl.env import EtlEnv
from mlhops.etl.events import EVENT_SCHEMA, LINEAGE_COLUMNS
from mlhops.etl.files import checksum
from mlhops.etl.sanitize import safe_file_name, safe_label
from mlhops.etl.sources.dicom import ImagingInput, imaging_batch
from mlhops.etl.sources.dicom_header import HEADER_SCHEMA
from mlhops.io.fs import list_files

logger = logging.getLogger(__name__)

SOURCE = "cxr-metadata"
SOURCE_TABLE = "cxr_images"
FINDINGS_TABLE = "cxr_findings"
LAYOUT = "nih-chestxray14 Data_Entry_2017"
PERSON_NAMESPACE = "nih-cxr14"
# Release year of ChestX-ray14 (Wang et al. 2017): the latest image of each patient is dated in it.
REFERENCE_YEAR = 2017
MAX_AGE_YEARS = 130
# DICOM Rows/Columns are 16-bit unsigned: a larger image size cannot be stored (nor cast to int).
MAX_IMAGE_PIXELS = 65535
# Pixel spacing (mm) above this is no radiograph (ChestX-ray14 spacings are 0.115-0.2 mm).
MAX_PIXEL_SPACING_MM = 10.0
MODALITY = "DX"  # digital radiography (DICOM CID 29)
BODY_PART = "CHEST"
NO_FINDING = "No Finding"
FINDING_VOCABULARY = "NIH ChestX-ray14"  # not an OMOP vocabulary: concept 0, label kept
FILTER_DUPLICATE = "duplicate image index"

# Header of the layout, in order (the bracketed pairs are two CSV fields each).
HEADER = (
    "Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age", "Patient Gender",
    "View Position", "OriginalImage[Width", "Height]", "OriginalImagePixelSpacing[x", "y]",
)
_NAMES = (
    "image_index", "finding_labels", "follow_up", "patient", "age", "sex",
    "view_position", "width", "height", "spacing_x", "spacing_y",
)
# NIH label -> SNOMED CT concept code (clinical finding); labels without an unambiguous code
# (Infiltration, Mass, Nodule, Consolidation, Pleural_Thickening) stay source-only.
FINDING_CODES: dict[str, str] = {
    "Atelectasis": "46621007",
    "Cardiomegaly": "8186001",
    "Effusion": "60046008",  # pleural effusion
    "Pneumothorax": "36118008",
    "Pneumonia": "233604007",
    "Emphysema": "87433001",  # pulmonary emphysema
    "Edema": "19242006",  # pulmonary oedema
    "Fibrosis": "51615001",  # fibrosis of lung
    "Hernia": "84089009",  # hiatal hernia (the ChestX-ray14 hernia class)
}


def _is_layout(header: list[str]) -> bool:
    return tuple(h.strip() for h in header[: len(HEADER)]) == HEADER and not any(h.strip() for h in header[len(HEADER):])


def _meant_as_layout(header: list[str]) -> bool:
    """Whether a header starts like Data_Entry_2017 (``Image Index,Finding Labels``; the
    bounding-box list says ``Finding Label``), also when another delimiter joined its columns."""
    first = header[0].strip() if header else ""
    return first.startswith(HEADER[0]) and (len(header) == 1 or header[1].strip() == HEADER[1])


def check_layout(file: str, header: list[str]) -> None:
    """Fail, naming the file and the column, for a Data_Entry_2017 file whose header is not the layout.

    Raises:
        SchemaError: the header cannot be read (another delimiter, a column twice) or a column of
            the layout is missing or out of place.
    """
    check_header(file, header)
    got = [h.strip() for h in header]
    for i, name in enumerate(HEADER):
        if i >= len(got) or got[i] != name:
            raise SchemaError(f"CSV file {safe_file_name(file)}: column {name} missing at position {i + 1} of the Data_Entry_2017 header "
                              f"(expected: {','.join(HEADER)})")
    extra = next((h for h in got[len(HEADER):] if h), None)
    if extra is not None:
        raise SchemaError(f"CSV file {safe_file_name(file)}: column {safe_label(extra, prefix='column')} is not part "
                          "of the Data_Entry_2017 header")


def _range_checks() -> list[parse.Check]:
    """Sizes must be whole pixel counts a DICOM header can hold and spacings plausible, so that
    no later cast can fail the job (``1e10``, ``NaN`` and ``Infinity`` parse as doubles)."""
    out: list[parse.Check] = []
    for c in ("width", "height"):
        n = parse.num(c)
        bad = F.isnan(n) | (n < 1) | (n > MAX_IMAGE_PIXELS) | (n % 1 != 0)
        out.append((c, n.isNotNull() & bad, f"out of range: not a whole number of pixels in 1-{MAX_IMAGE_PIXELS}"))
    for c in ("spacing_x", "spacing_y"):
        n = parse.num(c)
        bad = F.isnan(n) | (n <= 0) | (n > MAX_PIXEL_SPACING_MM)
        out.append((c, n.isNotNull() & bad, f"out of range: pixel spacing not in (0, {MAX_PIXEL_SPACING_MM:g}] mm"))
    return out


def _read(spark: SparkSession, path: str) -> tuple[DataFrame, int]:
    df, n = read_csv_with_lines(spark, path, SOURCE_TABLE)
    header = [c for c in df.columns if c not in (*LINEAGE_COLUMNS, "malformed")]
    renamed = df.select(
        *LINEAGE_COLUMNS, *[F.col(f"`{h}`").alias(name) for h, name in zip(header, _NAMES, strict=False)], "malformed"
    )
    return renamed, n


def parse_rows(rows: DataFrame) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Check and type the CSV rows.

    Returns:
        (good rows with ``age``/``follow_up``/sizes typed, rejects with lineage + field + reason,
        filtered duplicates of an image index).
    """
    age = parse.integer("age")
    follow = parse.integer("follow_up")
    checks: list[parse.Check] = [
        parse.required("image_index"),
        parse.required("patient"),
        parse.required("age"),
        parse.parses("age", age, "integer"),
        ("age", age.isNotNull() & ((age < 0) | (age > MAX_AGE_YEARS)), f"implausible age (outside 0-{MAX_AGE_YEARS})"),
        parse.required("follow_up"),
        parse.parses("follow_up", follow, "integer"),
        ("follow_up", follow < 0, "negative follow-up number"),
        parse.required("finding_labels"),
        *[parse.parses(c, parse.num(c), "number") for c in ("width", "height", "spacing_x", "spacing_y")],
        *_range_checks(),
    ]
    good, rejects = parse.split_rejects(rows, checks)
    typed = good.select(
        *LINEAGE_COLUMNS, F.trim("image_index").alias("image_index"), "finding_labels",
        follow.alias("follow_up"), F.trim("patient").alias("patient"), age.alias("age"),
        F.upper(F.trim("sex")).alias("sex"), F.upper(F.trim("view_position")).alias("view_position"),
        *[parse.num(c).alias(c) for c in ("width", "height", "spacing_x", "spacing_y")],
    )
    first = F.row_number().over(Window.partitionBy("image_index").orderBy("source_file", "source_line"))
    ranked = typed.withColumn("_n", first)
    dup = ranked.where(F.col("_n") > 1).select(*LINEAGE_COLUMNS, F.lit(FILTER_DUPLICATE).alias("reason"))
    return ranked.where(F.col("_n") == 1).drop("_n"), rejects, dup


def image_dates(rows: DataFrame, reference_year: int = REFERENCE_YEAR) -> DataFrame:
    """Add ``image_date``: see the module docstring (age-relative year, follow-up day)."""
    oldest = F.max("age").over(Window.partitionBy("patient"))
    year = F.lit(reference_year) - oldest + F.col("age")
    day = F.least(F.col("follow_up"), F.lit(364))
    return rows.withColumn("image_date", F.date_add(F.make_date(year, F.lit(1), F.lit(1)), day))


def instances(rows: DataFrame) -> DataFrame:
    """Typed, dated rows -> instance records of the imaging builder (one per image)."""
    person = F.concat_ws(":", F.lit(PERSON_NAMESPACE), F.col("patient"))
    values = {
        "patient_id": person,
        "patient_sex": F.col("sex"),
        "patient_age": F.concat(F.lpad(F.col("age").cast("string"), 3, "0"), F.lit("Y")),
        "study_uid": F.col("image_index"),
        "series_uid": F.col("image_index"),
        "sop_instance_uid": F.col("image_index"),
        "modality": F.lit(MODALITY),
        "body_part": F.lit(BODY_PART),
        "view_position": F.nullif(F.col("view_position"), F.lit("")),
        "rows": F.col("height").cast("int"),
        "columns": F.col("width").cast("int"),
        "pixel_spacing_row": F.col("spacing_y"),
        "pixel_spacing_col": F.col("spacing_x"),
    }
    skip = {"status", "reason", "field", "referenced_files"}
    return rows.select(
        *LINEAGE_COLUMNS,
        *[(values[f.name] if f.name in values else F.lit(None)).cast(f.dataType).alias(f.name)
          for f in HEADER_SCHEMA.fields if f.name not in skip],
        "image_date",
    )


def finding_events(rows: DataFrame, type_concept_id: int) -> DataFrame:
    """One event per (image, finding label) of typed, dated rows (``No Finding`` yields none)."""
    labels = F.array_distinct(F.transform(F.split("finding_labels", r"\|"), lambda x: F.trim(x)))
    exploded = rows.select(
        F.lit(FINDINGS_TABLE).alias("source_table"), "source_file", "source_line", "patient", "image_index",
        "image_date", F.explode(F.filter(labels, lambda x: (x != "") & (x != NO_FINDING))).alias("label"),
    )
    code_map = F.create_map(*[x for k, v in FINDING_CODES.items() for x in (F.lit(k), F.lit(v))])
    snomed = F.element_at(code_map, F.col("label"))
    cols = {
        "event_key": F.concat_ws("|", F.lit(FINDINGS_TABLE), "image_index", "label"),
        "person_key": F.concat_ws(":", F.lit(PERSON_NAMESPACE), F.col("patient")),
        "start_ts": F.col("image_date").cast("timestamp"),
        "vocabulary_id": F.when(snomed.isNotNull(), F.lit("SNOMED")).otherwise(F.lit(FINDING_VOCABULARY)),
        "code": F.coalesce(snomed, F.col("label")),
        "default_domain": F.lit("Observation"),
        "type_concept_id": F.lit(type_concept_id),
        "value_source_value": F.col("label"),
    }
    return exploded.select(
        *LINEAGE_COLUMNS,
        *[(cols[f.name] if f.name in cols else F.lit(None)).cast(f.dataType).alias(f.name)
          for f in EVENT_SCHEMA.fields if f.name not in LINEAGE_COLUMNS],
    )


def _csv_files(spark: SparkSession, input_path: str) -> list[str]:
    paths = sorted(p for p in list_files(spark, input_path) if p.lower().endswith((".csv", ".csv.gz")))
    chosen = []
    for p in paths:
        header = header_columns(spark, p)
        if _meant_as_layout(header):
            check_layout(file_name(p), header)
            chosen.append(p)
    for p in sorted(set(paths) - set(chosen)):
        logger.info("cxr-metadata: %s is not a Data_Entry_2017 file, skipped", safe_file_name(file_name(p)))
    if not chosen:
        raise DataQualityError(f"{input_path}: no CSV with the ChestX-ray14 Data_Entry_2017 header")
    return chosen


def extract(spark: SparkSession, env: EtlEnv, input_path: str) -> SourceBatch:
    """``mlhops etl --source cxr-metadata``: Data_Entry_2017 rows -> imaging tables and findings.

    Conservation: every CSV row (``cxr_images``) is an image of a loaded series, quarantined
    (file, line, field, reason) or filtered (duplicate image index); ``cxr_findings`` counts
    the rows with at least one finding, and the imaging builder's logical tables are
    accounted for by the loader.

    Raises:
        DataQualityError: no Data_Entry_2017 CSV under ``input_path``, or none with a data row;
            conservation imbalance.
        SchemaError: a Data_Entry_2017 file whose header is not the layout (names file and column).
    """
    files = _csv_files(spark, input_path)
    frames = [_read(spark, p) for p in files]
    if sum(n for _, n in frames) == 0:
        raise DataQualityError(f"{input_path}: the Data_Entry_2017 files have no data rows: nothing to load")
    rows = union_all([f for f, _ in frames])
    good, rejects, dup = parse_rows(rows)
    dated = image_dates(good).localCheckpoint(eager=True)
    types = env.standard("type")
    findings = finding_events(dated, int(types.get("cxr", types.get("ehr", 32817)))).localCheckpoint(eager=True)
    n_findings = findings.select("source_file", "source_line").distinct().count()
    logger.info("cxr-metadata: %d files, %d rows", len(files), sum(n for _, n in frames))
    return imaging_batch(spark, env, ImagingInput(
        source=SOURCE, layout=LAYOUT, alg_system=f"{LAYOUT} metadata (mlhops {SOURCE})",
        file_table=SOURCE_TABLE, files_read=sum(n for _, n in frames), instances=instances(dated),
        rejects=rejects, filtered=dup, input_files=[checksum(spark, p) for p in files],
        events=findings, events_rows_read={FINDINGS_TABLE: n_findings},
    ))
