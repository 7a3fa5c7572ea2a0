"""DICOM instance records -> source-neutral frames for the shared loader, and MI-CDM rows.

The shared loader (:mod:`mlhops.etl.loader`) gets, from the parsed instances:

* ``persons`` (logical table ``dicom_patients``): one per PatientID not yet in the warehouse,
  with sex and a birth date from PatientBirthDate, else the year of birth implied by PatientAge
  at the image date (1 January of that year). Patients the EHR already loaded keep their EHR
  person (filtered here as "already in the warehouse"); patients with neither a known person
  nor a birth date/age cannot have a person row and their images are quarantined by the loader.
* ``events``: one imaging procedure per study (``dicom_studies``; code = modality,
  vocabulary ``DICOM``, domain Procedure) and the acquisition parameters of each series as
  measurements (``dicom_series``; code = the DICOM tag, e.g. ``00180060`` for KVP, value and
  UCUM unit). With the DICOM vocabulary rows shipped in ``data/vocabulary`` the parameters map
  to their DICOM attribute concepts (``measurement_concept_id``, hence
  ``image_feature_concept_id``); the modality keeps its DICOM value concept as
  ``procedure_source_concept_id`` (that vocabulary maps no modality to a standard concept).

After the loader has written them, :func:`image_rows` builds ``image_occurrence`` (one per
series, linked to its study's ``procedure_occurrence``) and ``image_feature`` (one per
acquisition-parameter measurement) from ids the loader assigned, read back from
``mlhops.id_map`` and the written tables. Study/series UIDs are replaced by salted ``2.25.``
UIDs (DICOM PS3.15 de-identification keeps UIDs linkable but not traceable); dates are shifted
with the person's shift.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from mlhops.etl.deid import Deidentifier, shift_ts
from mlhops.etl.events import EVENT_SCHEMA, LINEAGE_COLUMNS
from mlhops.etl.entities import PERSON_SCHEMA
from mlhops.omop import mi_cdm

TABLE_PATIENTS = "dicom_patients"
TABLE_STUDIES = "dicom_studies"
TABLE_SERIES = "dicom_series"
VOCABULARY = "DICOM"
FILTER_KNOWN_PATIENT = "patient already in the warehouse (its EHR person is kept)"
FILTER_NO_PARAMETERS = "series without acquisition parameters"
# Type concept "EHR" (32817) unless etl.standard_concepts.type.dicom is configured.
DEFAULT_TYPE_CONCEPT_ID = 32817
# DICOM AS value: nnnD/W/M/Y.
_AGE_YEARS = r"^(\d{3})Y$"
# Hex digits of the salted hash turned into the decimal part of a 2.25 UID (64 bits).
_UID_HEX = 16


@dataclass(frozen=True)
class Parameter:
    """One acquisition parameter kept as a measurement of the series.

    The measurement's code (``measurement_source_value``) is the DICOM tag as eight hex digits,
    the ``concept_code`` of the DICOM vocabulary (OHDSI medical-imaging WG, ``DICOM Attributes``
    class; see ``data/vocabulary/README_dicom.md``), so the shared mapping core finds its concept.
    """

    column: str  # instance record column (the number, or the text)
    keyword: str  # DICOM keyword (part of the event key)
    tag: str  # DICOM tag, group and element as 8 hex digits: the vocabulary code
    unit: str | None  # UCUM code
    numeric: bool


# Tags of the spacing attributes (dicom_header.SPACING_KEYWORDS); PixelSpacing when unknown.
SPACING_TAGS: dict[str, str] = {"PixelSpacing": "00280030", "ImagerPixelSpacing": "00181164"}
SPACING_KEYWORD = "PixelSpacing"

PARAMETERS: tuple[Parameter, ...] = (
    Parameter("rows", "Rows", "00280010", "{pixels}", True),
    Parameter("columns", "Columns", "00280011", "{pixels}", True),
    # Row spacing as the number (DICOM lists the row spacing first), "row\\column" as the
    # source value; the tag is the attribute the header had (see series_events).
    Parameter("pixel_spacing_row", SPACING_KEYWORD, SPACING_TAGS["PixelSpacing"], "mm", True),
    Parameter("slice_thickness", "SliceThickness", "00180050", "mm", True),
    Parameter("kvp", "KVP", "00180060", "kV", True),
    Parameter("exposure", "Exposure", "00181152", "mA.s", True),
    Parameter("exposure_time", "ExposureTime", "00181150", "ms", True),
    Parameter("manufacturer", "Manufacturer", "00080070", None, False),
    Parameter("model", "ManufacturerModelName", "00081090", None, False),
    Parameter("body_part", "BodyPartExamined", "00180015", None, False),
    Parameter("view_position", "ViewPosition", "00185101", None, False),
    Parameter("transfer_syntax", "TransferSyntaxUID", "00020010", None, False),
)


def _parameter_item(p: Parameter) -> Column:
    """``(keyword, tag, number, text, source, unit)`` of one parameter of one series."""
    number = F.col(p.column).cast("double") if p.numeric else F.lit(None).cast("double")
    text = F.lit(None).cast("string") if p.numeric else F.col(p.column)
    tag = F.lit(p.tag)
    source = F.coalesce(text, number.cast("string"))
    if p.keyword == SPACING_KEYWORD:
        mapping = F.create_map(*[x for k, v in SPACING_TAGS.items() for x in (F.lit(k), F.lit(v))])
        tag = F.coalesce(mapping[F.col("pixel_spacing_attribute")], tag)
        source = F.when(
            F.col("pixel_spacing_col").isNotNull(),
            F.concat_ws("\\", number.cast("string"), F.col("pixel_spacing_col").cast("string")),
        ).otherwise(source)
    return F.struct(
        F.lit(p.keyword).alias("keyword"), tag.alias("tag"), number.alias("number"), text.alias("text"),
        source.alias("source"), F.lit(p.unit).cast("string").alias("unit"),
    )


def _yyyymmdd(col: str) -> Column:
    return F.try_to_timestamp(F.regexp_replace(F.col(col), r"[.\-/]", ""), F.lit("yyyyMMdd"))


def acquisition_ts(df: DataFrame) -> Column:
    """Image date plus the series (else study) time when it parses, else midnight."""
    hhmmss = F.substring(F.regexp_replace(F.coalesce("series_time", "study_time"), ":", ""), 1, 6)
    with_time = F.try_to_timestamp(
        F.concat(F.date_format("image_date", "yyyyMMdd"), F.rpad(hhmmss, 6, "0")), F.lit("yyyyMMddHHmmss")
    )
    return F.coalesce(with_time, F.col("image_date").cast("timestamp"))


def _first(df: DataFrame, key: str) -> DataFrame:
    """The first instance (lowest source_line) of each ``key``."""
    w = Window.partitionBy(key).orderBy("source_line")
    return df.withColumn("_r", F.row_number().over(w)).where(F.col("_r") == 1).drop("_r")


def _event_frame(df: DataFrame, cols: dict[str, Column]) -> DataFrame:
    return df.select(
        *LINEAGE_COLUMNS,
        *[(cols[f.name] if f.name in cols else F.lit(None)).cast(f.dataType).alias(f.name)
          for f in EVENT_SCHEMA.fields if f.name not in LINEAGE_COLUMNS],
    )


def patients(instances: DataFrame, known_hashes: DataFrame | None, deid: Deidentifier) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(persons, filtered, all patient rows' lineage) of the ``dicom_patients`` logical table.

    Args:
        instances: instance records with lineage and ``image_date``.
        known_hashes: ``key_hash`` of persons already in ``mlhops.id_map`` (None: empty warehouse).
        deid: the run's de-identifier (hashes PatientID the way the loader does).
    """
    first = _first(instances, "patient_id").withColumn("source_table", F.lit(TABLE_PATIENTS))
    if known_hashes is not None:
        # The hash is a Python UDF: computed as a column, since a join condition may not hold one.
        marked = first.withColumn("_kh", deid.hash("person", F.col("patient_id"))).join(
            known_hashes.select(F.col("key_hash").alias("_kh")).withColumn("_known", F.lit(True)), "_kh", "left",
        ).drop("_kh")
    else:
        marked = first.withColumn("_known", F.lit(None).cast("boolean"))
    age = F.regexp_extract("patient_age", _AGE_YEARS, 1)
    from_age = F.when(
        (age != "") & F.col("image_date").isNotNull(),
        F.make_timestamp(F.year("image_date") - age.cast("int"), F.lit(1), F.lit(1), F.lit(0), F.lit(0), F.lit(0)),
    )
    birth = F.coalesce(_yyyymmdd("patient_birth_date"), from_age)
    new = marked.where(F.col("_known").isNull())
    persons = new.select(
        *LINEAGE_COLUMNS,
        F.col("patient_id").alias("person_key"),
        birth.alias("birth_ts"),
        F.lit(None).cast("timestamp").alias("death_ts"),
        F.col("patient_sex").alias("gender_source_value"),
        *[F.lit(None).cast("string").alias(c) for c in
          ("race_source_value", "ethnicity_source_value", "location_key", "provider_key", "care_site_key")],
    )
    # A person row needs a birth date; without one the loader rejects the patient's facts as
    # "unknown patient", and this row is filtered with the reason.
    no_birth = persons.where(F.col("birth_ts").isNull()).select(
        *LINEAGE_COLUMNS, F.lit("no birth date or age in the DICOM header").alias("reason")
    )
    persons = persons.where(F.col("birth_ts").isNotNull())
    persons = persons.select(*[F.col(f.name).cast(f.dataType) for f in PERSON_SCHEMA.fields])
    known = marked.where(F.col("_known")).select(*LINEAGE_COLUMNS, F.lit(FILTER_KNOWN_PATIENT).alias("reason"))
    return persons, known.unionByName(no_birth), first.select(*LINEAGE_COLUMNS)


def study_key(uid: Column) -> Column:
    """Event key of a study's imaging procedure."""
    return F.concat_ws("|", F.lit(TABLE_STUDIES), uid)


def parameter_key(series_uid: Column, keyword: Column) -> Column:
    """Event key of one acquisition parameter of a series."""
    return F.concat_ws("|", F.lit(TABLE_SERIES), series_uid, keyword)


def study_events(instances: DataFrame, type_concept_id: int) -> DataFrame:
    """One imaging-procedure event per study (the study's first instance gives modality and time)."""
    first = _first(instances, "study_uid").withColumn("source_table", F.lit(TABLE_STUDIES))
    return _event_frame(first, {
        "event_key": study_key(F.col("study_uid")),
        "person_key": F.col("patient_id"),
        "start_ts": acquisition_ts(first),
        "vocabulary_id": F.lit(VOCABULARY),
        "code": F.coalesce(F.col("modality"), F.lit("OT")),  # OT: "other" modality (DICOM CID 29)
        "default_domain": F.lit("Procedure"),
        "type_concept_id": F.lit(type_concept_id),
        "quantity": F.lit(1.0),
    })


def series_events(instances: DataFrame, type_concept_id: int) -> tuple[DataFrame, DataFrame]:
    """(parameter measurement events, filtered series without any parameter) per series."""
    first = _first(instances, "series_uid").withColumn("source_table", F.lit(TABLE_SERIES))
    items = F.array(*[_parameter_item(p) for p in PARAMETERS])
    present = F.filter(items, lambda x: x["number"].isNotNull() | x["text"].isNotNull())
    marked = first.withColumn("_params", present)
    none = marked.where(F.size("_params") == 0).select(*LINEAGE_COLUMNS, F.lit(FILTER_NO_PARAMETERS).alias("reason"))
    exploded = marked.where(F.size("_params") > 0).withColumn("_p", F.explode("_params"))
    events = _event_frame(exploded, {
        "event_key": parameter_key(F.col("series_uid"), F.col("_p.keyword")),
        "person_key": F.col("patient_id"),
        "start_ts": acquisition_ts(exploded),
        "vocabulary_id": F.lit(VOCABULARY),
        "code": F.col("_p.tag"),
        "default_domain": F.lit("Measurement"),
        "type_concept_id": F.lit(type_concept_id),
        "value_as_number": F.col("_p.number"),
        "value_as_string": F.col("_p.text"),
        "value_source_value": F.col("_p.source"),
        "unit_source_value": F.col("_p.unit"),
    })
    return events, none


def pseudo_uid(deid: Deidentifier, kind: str, uid: Column) -> Column:
    """A salted ``2.25.<decimal>`` UID standing for a source UID (same input, same output)."""
    digits = F.conv(F.substring(deid.hash(kind, uid), 1, _UID_HEX), 16, 10)
    return F.when(uid.isNull(), F.lit(None).cast("string")).otherwise(F.concat(F.lit("2.25."), digits))


@dataclass(frozen=True)
class ImageRows:
    """MI-CDM rows (with lineage of the instances they came from) and the instances left out."""

    image_occurrence: DataFrame
    image_feature: DataFrame
    instance_lineage: DataFrame  # instances whose series became an image_occurrence
    rejects: DataFrame  # instances whose series could not (lineage + field + reason)


def image_rows(
    instances: DataFrame, event_ids: DataFrame, procedures: DataFrame, measurements: DataFrame,
    deid: Deidentifier, type_concept_id: int, alg_system: str,
) -> ImageRows:
    """Build image_occurrence / image_feature from instances and the loader's written rows.

    Args:
        instances: instance records with lineage and ``image_date``.
        event_ids: ``(key_hash, id)`` of kind ``event`` from ``mlhops.id_map``.
        procedures: ``omop.procedure_occurrence`` (``procedure_occurrence_id``, ``person_id``,
            ``procedure_concept_id``, ``visit_occurrence_id``).
        measurements: ``omop.measurement`` (``measurement_id``, ``measurement_concept_id``).
        deid: the run's de-identifier.
        type_concept_id: provenance of the features.
        alg_system: what extracted the features (parser name and version).
    """
    ids = event_ids.select(F.col("key_hash").alias("_h"), F.col("id").alias("_event_id"))
    series = _first(instances, "series_uid").withColumn(
        "_h", deid.hash("event", study_key(F.col("study_uid")))
    ).join(ids, "_h", "left").drop("_h")
    proc = procedures.select(
        F.col("procedure_occurrence_id").alias("_event_id"), "person_id", "visit_occurrence_id",
        F.col("procedure_concept_id").alias("modality_concept_id"),
    )
    joined = series.join(proc, "_event_id", "left")
    shift = deid.shift_days(F.col("patient_id"))
    occ = joined.where(F.col("person_id").isNotNull()).select(
        "series_uid",
        F.col("_event_id").alias("procedure_occurrence_id"),
        "person_id", "visit_occurrence_id", "modality_concept_id",
        F.to_date(shift_ts(F.col("image_date").cast("timestamp"), shift)).alias("image_occurrence_date"),
        pseudo_uid(deid, "dicom-study", F.col("study_uid")).alias("image_study_uid"),
        pseudo_uid(deid, "dicom-series", F.col("series_uid")).alias("image_series_uid"),
        F.lit(0).alias("anatomic_site_concept_id"),
    )
    missing = joined.where(F.col("person_id").isNull()).select("series_uid")
    rejected = instances.join(missing, "series_uid").select(
        *LINEAGE_COLUMNS, F.lit("PatientID").alias("field"),
        F.lit("imaging procedure not loaded (patient unknown or quarantined)").alias("reason"),
    )
    kept = instances.join(occ.select("series_uid"), "series_uid").select(*LINEAGE_COLUMNS)

    params = series.select("series_uid", "patient_id", F.explode(F.array(*[F.lit(p.keyword) for p in PARAMETERS])).alias("kw"))
    params = params.withColumn("_h", deid.hash("event", parameter_key(F.col("series_uid"), F.col("kw"))))
    feat = (
        params.join(ids, "_h")
        .join(measurements.select(F.col("measurement_id").alias("_event_id"), "measurement_concept_id"), "_event_id")
        .join(occ.select("series_uid", "person_id"), "series_uid")
        .select(
            "series_uid",
            F.col("_event_id").alias("image_feature_id"),
            "person_id",
            F.col("measurement_concept_id").alias("image_feature_concept_id"),
            F.lit(type_concept_id).alias("image_feature_type_concept_id"),
            F.lit(mi_cdm.MEASUREMENT_FIELD_CONCEPT_ID).alias("image_feature_event_field_concept_id"),
            F.col("_event_id").alias("image_feature_event_id"),
            F.lit(0).alias("image_finding_concept_id"),
            F.lit(0).alias("image_finding_id"),
            F.lit(0).alias("anatomic_site_concept_id"),
            F.lit(alg_system).alias("alg_system"),
        )
    )
    return ImageRows(image_occurrence=occ, image_feature=feat, instance_lineage=kept, rejects=rejected)


# Typed fillers that make Spark infer NOT NULL for required columns (never taken: callers
# filter rows with a null required value first).
_FILLERS = {"integer": 0, "date": _dt.date(1970, 1, 1), "datetime": _dt.datetime(1970, 1, 1)}


def conform_mi(df: DataFrame, table: str) -> tuple[DataFrame, DataFrame]:
    """Select, order and type ``df`` as the MI-CDM ``table``; rows with a null required value
    are split off (``(conformed rows, the rest with their series_uid)``)."""
    specs = mi_cdm.fields(table)
    present = set(df.columns)
    typed = df.select(
        "series_uid", *[(F.col(f.name) if f.name in present else F.lit(None)).cast(f.spark_type).alias(f.name) for f in specs]
    )
    bad = F.lit(False)
    for f in specs:
        if f.required:
            bad = bad | F.col(f.name).isNull()
    good = typed.where(~bad)
    out = good.select(*[
        F.coalesce(F.col(f.name), F.lit(_FILLERS.get(f.datatype.lower(), "")).cast(f.spark_type)).alias(f.name)
        if f.required else F.col(f.name)
        for f in specs
    ])
    return out, typed.where(bad).select("series_uid")
