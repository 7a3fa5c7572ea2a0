"""What a source hands to the shared loader: ``SourceBatch``.

A source module parses its raw input into these frames and nothing more; de-identification,
id assignment, vocabulary mapping, domain routing, eras, conformance, MERGE, quarantine and
conservation accounting are done once, for every source, by :mod:`mlhops.etl.loader`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from mlhops.etl.entities import (
    CARE_SITE_SCHEMA,
    COST_SCHEMA,
    LOCATION_SCHEMA,
    PAYER_PERIOD_SCHEMA,
    PERSON_SCHEMA,
    PROVIDER_SCHEMA,
    VISIT_SCHEMA,
)
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


def empty_frame(spark: SparkSession, kind: str) -> DataFrame:
    """An empty frame of one ``FRAME_SCHEMAS`` kind."""
    return spark.createDataFrame([], FRAME_SCHEMAS[kind])
