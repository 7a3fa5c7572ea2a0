"""What a source hands to the shared loader (``SourceBatch``) and what the loader returns
(``LoadResult``).

A source module parses its raw input into these frames and nothing more; de-identification,
id assignment, vocabulary mapping, domain routing, eras, conformance, MERGE, quarantine and
conservation accounting are done once, for every source, by :mod:`mlhops.etl.loader`. Two
optional parts carry what only some sources have: ``imaging`` (image instances or EHR imaging
series, whose MI-CDM rows follow the loaded imaging procedures) and ``cdm_tables`` (an existing
CDM export's typed rows, which keep their own ids).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from mlhops.frames import union_all
from mlhops.etl.entities import (
    CARE_SITE_SCHEMA,
    COST_SCHEMA,
    LOCATION_SCHEMA,
    PAYER_PERIOD_SCHEMA,
    PERSON_SCHEMA,
    PROVIDER_SCHEMA,
    VISIT_SCHEMA,
)
from mlhops.etl.conservation import Conservation
from mlhops.etl.events import EVENT_SCHEMA, LINEAGE_FIELDS
from mlhops.etl.files import InputFile

# A source row that could not be parsed: where (lineage), which field, why. Never the value.
REJECT_SCHEMA = T.StructType(
    LINEAGE_FIELDS
    + [T.StructField("field", T.StringType(), True), T.StructField("reason", T.StringType(), False)]
)
# A source row deliberately not loaded (e.g. "no OMOP target", "duplicate"), by reason.
FILTERED_SCHEMA = T.StructType(LINEAGE_FIELDS + [T.StructField("reason", T.StringType(), False)])

FRAME_SCHEMAS: dict[str, T.StructType] = {
    "events": EVENT_SCHEMA,
    "persons": PERSON_SCHEMA,
    "visits": VISIT_SCHEMA,
    "providers": PROVIDER_SCHEMA,
    "care_sites": CARE_SITE_SCHEMA,
    "locations": LOCATION_SCHEMA,
    "payer_periods": PAYER_PERIOD_SCHEMA,
    "costs": COST_SCHEMA,
    "rejects": REJECT_SCHEMA,
    "filtered": FILTERED_SCHEMA,
}


@dataclass(frozen=True)
class ImageInstances:
    """Image instances (DICOM headers, tabular image metadata) of a batch.

    ``instances`` are instance records (the columns of
    :data:`~mlhops.etl.sources.dicom_header.HEADER_SCHEMA` that are not parse status, plus
    lineage of ``file_table`` and ``image_date``); ``rejects``/``filtered`` are rows of
    ``file_table`` already left out while parsing. After the batch's imaging procedures and
    acquisition measurements are loaded, each series becomes an ``image_occurrence`` with its
    ``image_feature`` rows, and every row of ``file_table`` is accounted for.
    """

    instances: DataFrame
    alg_system: str  # what extracted the image features (image_feature.alg_system)
    type_concept_id: int
    file_table: str
    files_read: int
    rejects: DataFrame
    filtered: DataFrame


@dataclass(frozen=True)
class SourceBatch:
    """One extract of one source, parsed into source-neutral frames.

    Every frame has exactly the columns of its schema in ``FRAME_SCHEMAS`` (use
    :func:`empty_frame` for kinds the source does not have). ``rows_read`` counts data rows per
    ``source_table``; each of them must end up in exactly one frame row that is loaded, in
    ``rejects`` or in ``filtered`` (conservation is checked by the loader).
    """

    source: str
    layout: str
    events: DataFrame
    persons: DataFrame
    visits: DataFrame
    providers: DataFrame
    care_sites: DataFrame
    locations: DataFrame
    payer_periods: DataFrame
    costs: DataFrame
    rejects: DataFrame
    filtered: DataFrame
    rows_read: dict[str, int]
    input_files: list[InputFile] = field(default_factory=list)
    # Optional parts (None: the source has none).
    image_instances: ImageInstances | None = None
    # EHR imaging series (``ehr_imaging.SERIES_SCHEMA``) of the studies among ``events``.
    image_series: DataFrame | None = None
    # An existing CDM export: conformant v5.4 frames by table, MERGEd on their own keys (the
    # entity frames are then empty; ``rejects``/``filtered``/``rows_read`` still account).
    cdm_tables: dict[str, DataFrame] | None = None


@dataclass
class LoadResult:
    """What :func:`mlhops.etl.loader.load_batch` wrote and counted."""

    tables: dict[str, int] = field(default_factory=dict)  # table -> Delta version
    rows_written: dict[str, int] = field(default_factory=dict)
    mapping: dict[str, dict[str, float]] = field(default_factory=dict)
    conservation: Conservation | None = None


def empty_frame(spark: SparkSession, kind: str) -> DataFrame:
    """An empty frame of one ``FRAME_SCHEMAS`` kind."""
    return spark.createDataFrame([], FRAME_SCHEMAS[kind])


def source_batch(
    spark: SparkSession, *, source: str, layout: str, rows_read: dict[str, int],
    frames: Mapping[str, DataFrame | Sequence[DataFrame]], input_files: Sequence[InputFile] = (),
    image_instances: ImageInstances | None = None, image_series: DataFrame | None = None,
    cdm_tables: dict[str, DataFrame] | None = None,
) -> SourceBatch:
    """The batch of a source: ``frames`` by ``FRAME_SCHEMAS`` kind (a list is unioned); kinds the
    source does not have (absent or an empty list) are empty frames of their schema."""
    full: dict[str, DataFrame] = {}
    for kind in FRAME_SCHEMAS:
        got = frames.get(kind)
        if isinstance(got, Sequence):
            got = union_all(got) if got else None
        full[kind] = got if got is not None else empty_frame(spark, kind)
    return SourceBatch(
        source=source, layout=layout, rows_read=rows_read, input_files=list(input_files),
        image_instances=image_instances, image_series=image_series, cdm_tables=cdm_tables, **full,
    )
