"""The per-fact intermediate shape every source emits (``EVENT_SCHEMA``).

One event is one coded clinical fact of one source row: a diagnosis, a dispensed drug, a lab
value, a procedure, an allergy, a device. Sources only parse; the shared core
(:mod:`mlhops.etl.mapping`) maps the code through the OMOP vocabulary and routes the event to the
OMOP table of its standard concept's domain (or of ``default_domain`` when the code is unmapped).

Keys (``person_key``, ``visit_key``, ``provider_key``, ``event_key``) are the *source* natural
keys; they never reach an output table: :mod:`mlhops.etl.ids` turns them into salted-hash lineage
values and stable integer OMOP ids. ``*_source_value`` columns are copied into OMOP
``*_source_value`` fields and must not hold identifiers (codes and short labels only).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

# Lineage columns carried by every source-derived frame (events and entities alike).
LINEAGE_FIELDS: list[T.StructField] = [
    T.StructField("source_table", T.StringType(), False),  # logical table, e.g. "conditions"
    T.StructField("source_file", T.StringType(), False),  # file name (no directory)
    T.StructField("source_line", T.LongType(), False),  # 1-based physical line (header = 1)
]
LINEAGE_COLUMNS: list[str] = [f.name for f in LINEAGE_FIELDS]

EVENT_SCHEMA = T.StructType(
    LINEAGE_FIELDS
    + [
        # Natural key of the fact, unique within the source and stable across extracts
        # (never the line number). Duplicate keys within one run are filtered as duplicates.
        T.StructField("event_key", T.StringType(), False),
        T.StructField("person_key", T.StringType(), False),
        T.StructField("visit_key", T.StringType(), True),
        T.StructField("provider_key", T.StringType(), True),
        T.StructField("start_ts", T.TimestampType(), False),  # UTC
        T.StructField("end_ts", T.TimestampType(), True),  # UTC
        # OMOP vocabulary_id of the code ("SNOMED", "LOINC", "RxNorm", "CVX", "ICD10CM", ...).
        T.StructField("vocabulary_id", T.StringType(), False),
        T.StructField("code", T.StringType(), False),
        # Domain used when the code does not map to a standard concept ("Condition", "Drug",
        # "Procedure", "Measurement", "Observation", "Device"), or ALLERGY (below).
        T.StructField("default_domain", T.StringType(), False),
        T.StructField("type_concept_id", T.IntegerType(), False),
        T.StructField("value_as_number", T.DoubleType(), True),
        T.StructField("value_as_string", T.StringType(), True),
        T.StructField("value_source_value", T.StringType(), True),
        T.StructField("unit_source_value", T.StringType(), True),  # UCUM code when it is one
        T.StructField("quantity", T.DoubleType(), True),
        T.StructField("days_supply", T.IntegerType(), True),
        T.StructField("refills", T.IntegerType(), True),
        T.StructField("route_source_value", T.StringType(), True),
        T.StructField("stop_reason", T.StringType(), True),
        T.StructField("unique_device_id", T.StringType(), True),
        T.StructField("range_low", T.DoubleType(), True),
        T.StructField("range_high", T.DoubleType(), True),
        # Condition status / observation qualifier as free source text (e.g. "primary").
        T.StructField("qualifier_source_value", T.StringType(), True),
    ]
)
EVENT_COLUMNS: list[str] = EVENT_SCHEMA.fieldNames()

# Standard-concept domain -> OMOP table. Domains not listed (e.g. "Spec Anatomic Site",
# "Meas Value", "Type Concept") fall back to the event's default_domain.
DOMAIN_TABLE: dict[str, str] = {
    "Condition": "condition_occurrence",
    "Drug": "drug_exposure",
    "Procedure": "procedure_occurrence",
    "Measurement": "measurement",
    "Observation": "observation",
    "Device": "device_exposure",
}
EVENT_TABLES: list[str] = list(DOMAIN_TABLE.values())

# ``default_domain`` of an allergy or intolerance. It always lands in OBSERVATION, whatever domain
# its code maps to: a substance or finding is the observation's concept; a drug (a drug allergy)
# becomes the value_as_concept_id of an "Allergy to drug" observation (the OMOP value-as-concept
# convention), never a drug exposure.
ALLERGY = "Allergy"
# SNOMED "Allergy to drug", looked up in the loaded vocabulary: the observation concept of a drug
# allergy, 0 where the vocabulary lacks it (the drug still maps, as the value).
DRUG_ALLERGY_CODE = ("SNOMED", "416098002")


def empty_events(spark: SparkSession) -> DataFrame:
    """An empty event frame (for sources without clinical facts, and for unions)."""
    return spark.createDataFrame([], EVENT_SCHEMA)
