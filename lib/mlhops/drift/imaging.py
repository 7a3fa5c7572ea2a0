"""Imaging metadata as a drift feature set: MI-CDM ``image_feature`` rows -> one row per image.

In the OMOP Medical Imaging extension an ``image_feature`` row points (``image_feature_event_field
_concept_id`` = the MEASUREMENT field concept, ``image_feature_event_id`` = ``measurement_id``)
at a measurement that holds one acquisition parameter of one image series (pixel spacing, rows,
columns, kVp, manufacturer ...). This module pivots those parameters, plus the modality of the
series' imaging procedure, into one row per ``image_occurrence``, so a scanner replacement (new
manufacturer and model, other pixel spacing and matrix size) or a protocol change is tested like
any other feature set (:mod:`mlhops.drift.imaging_drift`).

Parameters are found by their DICOM tag (``measurement_source_value``, the code the DICOM source
writes), so the pivot works whether or not the vocabulary maps the tag to a concept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mlhops.errors import SchemaError

# image_feature_event_field_concept_id of rows that point into MEASUREMENT.
MEASUREMENT_FIELD_CONCEPT_ID = 1147330
KEY_COLUMNS: tuple[str, ...] = ("image_occurrence_id", "person_id", "visit_occurrence_id", "event_time", "event_date")
MODALITY = "modality"


@dataclass(frozen=True)
class ImagingParameter:
    """One acquisition parameter: the DICOM tags that hold it, its feature name and kind."""

    tags: tuple[str, ...]
    name: str
    kind: Literal["numeric", "categorical"]


# The acquisition parameters the DICOM and ChestX-ray14 sources write (DICOM tag = the
# measurement_source_value of mlhops.etl.sources.dicom_omop.PARAMETERS).
DEFAULT_PARAMETERS: tuple[ImagingParameter, ...] = (
    ImagingParameter(("00080070",), "manufacturer", "categorical"),
    ImagingParameter(("00081090",), "model", "categorical"),
    ImagingParameter(("00180015",), "body_part", "categorical"),
    ImagingParameter(("00185101",), "view_position", "categorical"),
    ImagingParameter(("00180060",), "kvp", "numeric"),
    ImagingParameter(("00181152",), "exposure", "numeric"),
    ImagingParameter(("00181150",), "exposure_time", "numeric"),
    ImagingParameter(("00180050",), "slice_thickness", "numeric"),
    ImagingParameter(("00280030", "00181164"), "pixel_spacing", "numeric"),
    ImagingParameter(("00280010",), "rows", "numeric"),
    ImagingParameter(("00280011",), "columns", "numeric"),
)


@dataclass(frozen=True)
class ImagingFeature:
    """Name and kind of a pivoted column (what the drift tests read)."""

    name: str
    kind: str


def imaging_features(parameters: Sequence[ImagingParameter]) -> list[ImagingFeature]:
    """The feature list of :func:`image_metadata_frame`: modality, then the parameters."""
    return [ImagingFeature(MODALITY, "categorical")] + [ImagingFeature(p.name, p.kind) for p in parameters]


def _check(parameters: Sequence[ImagingParameter]) -> None:
    names = [p.name for p in parameters]
    tags = [t for p in parameters for t in p.tags]
    if len(set(names)) != len(names) or len(set(tags)) != len(tags) or MODALITY in names:
        raise SchemaError("imaging drift parameters: duplicate names or tags (or a parameter named modality)")


def image_metadata_frame(
    image_occurrence: DataFrame,
    image_feature: DataFrame,
    measurement: DataFrame,
    parameters: Sequence[ImagingParameter] = DEFAULT_PARAMETERS,
    procedure_occurrence: DataFrame | None = None,
    modality_labels: Mapping[int, str] | None = None,
) -> DataFrame:
    """One row per image occurrence with its modality and acquisition parameters.

    Args:
        image_occurrence: MI-CDM ``image_occurrence``.
        image_feature: MI-CDM ``image_feature``.
        measurement: OMOP ``measurement`` (the rows image features point at).
        parameters: which DICOM tags become which feature columns.
        procedure_occurrence: OMOP ``procedure_occurrence``; when given, the modality is the
            imaging procedure's source value (the DICOM modality code, e.g. ``CT``).
        modality_labels: names for ``modality_concept_id`` values (used when the procedure
            has no source value, or no procedures are given).

    Returns:
        Columns :data:`KEY_COLUMNS`, ``modality`` and one column per parameter (numeric from
        ``value_as_number``; categorical from ``value_source_value``, else the value concept).
        Parameters an image lacks are null.

    Raises:
        SchemaError: duplicate parameter names or tags.
    """
    _check(parameters)
    links = image_feature.where(F.col("image_feature_event_field_concept_id") == MEASUREMENT_FIELD_CONCEPT_ID).select(
        "image_occurrence_id", F.col("image_feature_event_id").alias("measurement_id")
    )
    tags = [t for p in parameters for t in p.tags]
    values = measurement.where(F.col("measurement_source_value").isin(tags)).select(
        "measurement_id", F.col("measurement_source_value").alias("_tag"), "value_as_number",
        F.coalesce(F.col("value_source_value"), F.col("value_as_concept_id").cast("string")).alias("_value_text"),
    )
    long = links.join(values, "measurement_id")
    aggs = []
    for p in parameters:
        hit = F.col("_tag").isin(list(p.tags))
        source = F.col("value_as_number") if p.kind == "numeric" else F.col("_value_text")
        # One value per series and parameter (the source writes one); max makes it deterministic.
        aggs.append(F.max(F.when(hit, source)).alias(p.name))
    wide = long.groupBy("image_occurrence_id").agg(*aggs)
    modality = F.col("modality_concept_id").cast("string")
    if modality_labels:
        mapping = F.create_map(*[x for k, v in modality_labels.items() for x in (F.lit(str(k)), F.lit(v))])
        modality = F.coalesce(mapping[modality], modality)
    occ = image_occurrence
    if procedure_occurrence is not None:
        proc = procedure_occurrence.select("procedure_occurrence_id", F.col("procedure_source_value").alias("_modality"))
        occ = occ.join(proc, "procedure_occurrence_id", "left")
        modality = F.coalesce(F.col("_modality"), modality)
    base = occ.select(
        "image_occurrence_id", "person_id", "visit_occurrence_id",
        F.col("image_occurrence_date").cast("timestamp").alias("event_time"),
        F.col("image_occurrence_date").alias("event_date"),
        modality.alias(MODALITY),
    )
    return base.join(wide, "image_occurrence_id", "left").select(*KEY_COLUMNS, MODALITY, *[p.name for p in parameters])
