"""Source-neutral shapes of the non-event entities a source emits (persons, visits, ...).

Like events, these carry source natural keys and lineage; the shared loader
(:mod:`mlhops.etl.loader`) de-identifies them, assigns OMOP ids and builds the OMOP rows.
Fields that could identify a person (names, SSN, licence, passport, street address, phone,
exact coordinates of a home) have no column here, so a source cannot pass them on.
"""

from __future__ import annotations

from pyspark.sql import types as T

from mlhops.etl.events import LINEAGE_FIELDS

_S, _TS, _D, _I = T.StringType(), T.TimestampType(), T.DoubleType(), T.IntegerType()


def _schema(*fields: tuple[str, T.DataType, bool]) -> T.StructType:
    return T.StructType(LINEAGE_FIELDS + [T.StructField(n, t, nullable) for n, t, nullable in fields])


PERSON_SCHEMA = _schema(
    ("person_key", _S, False),
    ("birth_ts", _TS, False),
    ("death_ts", _TS, True),
    ("gender_source_value", _S, True),  # "M"/"F"/... mapped through etl.standard_concepts.gender
    ("race_source_value", _S, True),
    ("ethnicity_source_value", _S, True),
    ("location_key", _S, True),
    ("provider_key", _S, True),
    ("care_site_key", _S, True),
)

# Residence without the street; the loader keeps state and ZIP3 only in the OMOP location rows
# (HIPAA Safe Harbor, :mod:`mlhops.etl.steps.safe_harbor`): city, county and coordinates are
# read for lineage of the location key and nulled there.
LOCATION_SCHEMA = _schema(
    ("location_key", _S, False),
    ("city", _S, True),
    ("state", _S, True),
    ("zip", _S, True),
    ("county", _S, True),
    ("latitude", _D, True),
    ("longitude", _D, True),
)

CARE_SITE_SCHEMA = _schema(
    ("care_site_key", _S, False),
    ("care_site_name", _S, True),  # an organisation's name, not a person's
    ("location_key", _S, True),
    ("place_of_service_source_value", _S, True),
)

PROVIDER_SCHEMA = _schema(
    ("provider_key", _S, False),
    ("care_site_key", _S, True),
    ("gender_source_value", _S, True),
    ("specialty_source_value", _S, True),
)

VISIT_SCHEMA = _schema(
    ("visit_key", _S, False),
    ("person_key", _S, False),
    ("start_ts", _TS, False),
    ("end_ts", _TS, True),
    ("visit_class", _S, False),  # mapped through etl.standard_concepts.visit
    ("visit_source_value", _S, True),  # a code or class, never an identifier
    ("provider_key", _S, True),
    ("care_site_key", _S, True),
)

PAYER_PERIOD_SCHEMA = _schema(
    ("person_key", _S, False),
    ("payer_key", _S, False),
    ("start_ts", _TS, False),
    ("end_ts", _TS, False),
    ("payer_source_value", _S, True),  # payer (organisation) name
    ("plan_source_value", _S, True),
    ("sponsor_source_value", _S, True),  # ownership kind ("Self", "Guardian"), never a name
)

# One cost record per claim of a visit (amounts already summed by the source).
COST_SCHEMA = _schema(
    ("cost_key", _S, False),
    ("visit_key", _S, False),
    ("total_charge", _D, True),
    ("total_cost", _D, True),
    ("total_paid", _D, True),
    ("paid_patient_copay", _D, True),
)
