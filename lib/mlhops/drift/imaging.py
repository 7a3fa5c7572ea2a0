"""Imaging metadata as a drift feature set: MI-CDM ``image_feature`` rows -> one row per image.

In the OMOP Medical Imaging extension an ``image_feature`` row points (``image_feature_event_field
_concept_id`` = the MEASUREMENT field concept, ``image_feature_event_id`` = ``measurement_id``)
at a measurement that holds one acquisition parameter of one image (pixel spacing, rows,
columns, kVp, manufacturer ...). This module pivots those parameters, plus the modality of the
``image_occurrence``, into the wide shape the drift detectors take, so a scanner replacement
(new manufacturer, other pixel spacing and matrix size) is tested like any other feature set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mlhops.errors import SchemaError

# image_feature_event_field_concept_id of rows that point into MEASUREMENT.
MEASUREMENT_FIELD_CONCEPT_ID = 1147330
KEY_COLUMNS: tuple[str, ...] = ("image_occurrence_id", "person_id", "visit_occurrence_id", "event_time", "event_date")


@dataclass(frozen=True)
class ImagingParameter:
    """One acquisition parameter: its measurement concept, feature name and kind."""

    concept_id: int
    name: str
    kind: Literal["numeric", "categorical"]


@dataclass(frozen=True)
class ImagingFeature:
    """Name and kind of a pivoted column (what the drift suite reads)."""

    name: str
    kind: str


def imaging_features(parameters: list[ImagingParameter]) -> list[ImagingFeature]:
    """The feature list of :func:`image_metadata_frame`: modality, then the parameters."""
    return [ImagingFeature("modality", "categorical")] + [ImagingFeature(p.name, p.kind) for p in parameters]


def image_metadata_frame(
    image_occurrence: DataFrame,
    image_feature: DataFrame,
    measurement: DataFrame,
    parameters: list[ImagingParameter],
    modality_labels: Mapping[int, str] | None = None,
) -> DataFrame:
    """One row per image occurrence with its modality and acquisition parameters.

    Args:
        image_occurrence: MI-CDM ``image_occurrence``.
        image_feature: MI-CDM ``image_feature``.
        measurement: OMOP ``measurement`` (the rows image features point at).
        parameters: which measurement concepts become which feature columns.
        modality_labels: optional names for ``modality_concept_id`` values.

    Returns:
        Columns :data:`KEY_COLUMNS`, ``modality`` and one column per parameter (numeric from
        ``value_as_number``; categorical from ``value_source_value``, else the value concept).
        Parameters an image lacks are null (the preprocessing turns that into indicators).

    Raises:
        SchemaError: duplicate parameter names or concepts.
    """
    names = [p.name for p in parameters]
    concepts = [p.concept_id for p in parameters]
    if len(set(names)) != len(names) or len(set(concepts)) != len(concepts):
        raise SchemaError("imaging drift parameters: duplicate names or concept ids")
    links = image_feature.where(F.col("image_feature_event_field_concept_id") == MEASUREMENT_FIELD_CONCEPT_ID).select(
        "image_occurrence_id", F.col("image_feature_event_id").alias("measurement_id")
    )
    values = measurement.where(F.col("measurement_concept_id").isin(concepts)).select(
        "measurement_id", "measurement_concept_id", "value_as_number",
        F.coalesce(F.col("value_source_value"), F.col("value_as_concept_id").cast("string")).alias("_value_text"),
    )
    long = links.join(values, "measurement_id")
    aggs = []
    for p in parameters:
        hit = F.col("measurement_concept_id") == p.concept_id
        source = F.col("value_as_number") if p.kind == "numeric" else F.col("_value_text")
        # One value per image and parameter is the MI-CDM convention; max makes it deterministic.
        aggs.append(F.max(F.when(hit, source)).alias(p.name))
    wide = long.groupBy("image_occurrence_id").agg(*aggs)
    modality = F.col("modality_concept_id").cast("string")
    if modality_labels:
        mapping = F.create_map(*[x for k, v in modality_labels.items() for x in (F.lit(str(k)), F.lit(v))])
        modality = F.coalesce(mapping[modality], modality)
    base = image_occurrence.select(
        "image_occurrence_id", "person_id", "visit_occurrence_id",
        F.col("image_occurrence_date").cast("timestamp").alias("event_time"),
        F.col("image_occurrence_date").alias("event_date"),
        modality.alias("modality"),
    )
    return base.join(wide, "image_occurrence_id", "left").select(*KEY_COLUMNS, "modality", *names)
