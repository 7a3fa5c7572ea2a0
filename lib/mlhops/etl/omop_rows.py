"""OMOP-shaped rows from de-identified, id-resolved, mapped frames (before conformance).

Inputs already carry integer ids (``person_id``, ``visit_occurrence_id``, ``provider_id``,
``event_id``, ...) and shifted timestamps. Each function returns the OMOP columns (any subset;
:func:`mlhops.omop.conform.conform` fills, orders and types them) plus lineage.
Visit details are one per visit and share the visit's id (Synthea and FHIR encounters have
no finer unit), so ``visit_detail_id`` equals ``visit_occurrence_id``.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mlhops.etl.events import LINEAGE_COLUMNS

# Length of OMOP *_source_value columns (varchar(50)).
SOURCE_VALUE_LEN = 50


def _d(col: str) -> Column:
    return F.to_date(F.col(col))


def _sv(col: str | Column) -> Column:
    c = F.col(col) if isinstance(col, str) else col
    return F.substring(c, 1, SOURCE_VALUE_LEN)


def _common(prefix: str, id_column: str | None = None) -> list[Column]:
    return [
        F.col("event_id").alias(id_column or f"{prefix}_id"),
        F.col("person_id"),
        F.col("concept_id").alias(f"{prefix}_concept_id"),
        F.col("provider_id"),
        F.col("visit_occurrence_id"),
        F.col("visit_occurrence_id").alias("visit_detail_id"),
        F.col("source_concept_id").alias(f"{prefix}_source_concept_id"),
        _sv("code").alias(f"{prefix}_source_value"),
    ]


def condition_occurrence(ev: DataFrame) -> DataFrame:
    return ev.select(
        *LINEAGE_COLUMNS, *_common("condition", "condition_occurrence_id"),
        _d("start_ts").alias("condition_start_date"), F.col("start_ts").alias("condition_start_datetime"),
        _d("end_ts").alias("condition_end_date"), F.col("end_ts").alias("condition_end_datetime"),
        F.col("type_concept_id").alias("condition_type_concept_id"),
        _sv("stop_reason").alias("stop_reason"),
        _sv("qualifier_source_value").alias("condition_status_source_value"),
    )


def drug_exposure(ev: DataFrame) -> DataFrame:
    # The spec requires an end date: recorded end, else start + days supply, else the start day.
    supplied = F.date_add(_d("start_ts"), F.coalesce(F.col("days_supply"), F.lit(0)))
    end_date = F.coalesce(_d("end_ts"), supplied)
    return ev.select(
        *LINEAGE_COLUMNS, *_common("drug", "drug_exposure_id"),
        _d("start_ts").alias("drug_exposure_start_date"), F.col("start_ts").alias("drug_exposure_start_datetime"),
        end_date.alias("drug_exposure_end_date"), F.col("end_ts").alias("drug_exposure_end_datetime"),
        _d("end_ts").alias("verbatim_end_date"),
        F.col("type_concept_id").alias("drug_type_concept_id"),
        _sv("stop_reason").alias("stop_reason"), "refills", "quantity", "days_supply",
        F.lit(0).alias("route_concept_id"), _sv("route_source_value").alias("route_source_value"),
        _sv("unit_source_value").alias("dose_unit_source_value"),
    )


def procedure_occurrence(ev: DataFrame) -> DataFrame:
    return ev.select(
        *LINEAGE_COLUMNS, *_common("procedure", "procedure_occurrence_id"),
        _d("start_ts").alias("procedure_date"), F.col("start_ts").alias("procedure_datetime"),
        _d("end_ts").alias("procedure_end_date"), F.col("end_ts").alias("procedure_end_datetime"),
        F.col("type_concept_id").alias("procedure_type_concept_id"),
        F.col("quantity").cast("int").alias("quantity"),
    )


def measurement(ev: DataFrame) -> DataFrame:
    return ev.select(
        *LINEAGE_COLUMNS, *_common("measurement"),
        _d("start_ts").alias("measurement_date"), F.col("start_ts").alias("measurement_datetime"),
        F.date_format("start_ts", "HH:mm:ss").alias("measurement_time"),
        F.col("type_concept_id").alias("measurement_type_concept_id"),
        "value_as_number", "unit_concept_id", "range_low", "range_high",
        _sv("unit_source_value").alias("unit_source_value"),
        _sv("value_source_value").alias("value_source_value"),
    )


def observation(ev: DataFrame) -> DataFrame:
    return ev.select(
        *LINEAGE_COLUMNS, *_common("observation"),
        _d("start_ts").alias("observation_date"), F.col("start_ts").alias("observation_datetime"),
        F.col("type_concept_id").alias("observation_type_concept_id"),
        "value_as_number", F.substring("value_as_string", 1, 60).alias("value_as_string"), "value_as_concept_id",
        "unit_concept_id", _sv("unit_source_value").alias("unit_source_value"),
        _sv("qualifier_source_value").alias("qualifier_source_value"),
        _sv("value_source_value").alias("value_source_value"),
    )


def device_exposure(ev: DataFrame) -> DataFrame:
    return ev.select(
        *LINEAGE_COLUMNS, *_common("device", "device_exposure_id"),
        _d("start_ts").alias("device_exposure_start_date"), F.col("start_ts").alias("device_exposure_start_datetime"),
        _d("end_ts").alias("device_exposure_end_date"), F.col("end_ts").alias("device_exposure_end_datetime"),
        F.col("type_concept_id").alias("device_type_concept_id"),
        _sv("unique_device_id").alias("unique_device_id"),
        F.col("quantity").cast("int").alias("quantity"), "unit_concept_id",
        _sv("unit_source_value").alias("unit_source_value"),
    )


EVENT_PROJECTIONS = {
    "condition_occurrence": condition_occurrence,
    "drug_exposure": drug_exposure,
    "procedure_occurrence": procedure_occurrence,
    "measurement": measurement,
    "observation": observation,
    "device_exposure": device_exposure,
}


def concept_lookup(col: str, mapping: dict[str, int]) -> Column:
    """Map a source value through a {value: concept_id} table (case-insensitive); 0 if absent."""
    expr = F.lit(0)
    lowered = F.lower(F.trim(F.col(col)))
    for value, concept in mapping.items():
        expr = F.when(lowered == value.lower(), F.lit(int(concept))).otherwise(expr)
    return expr


def person(p: DataFrame, gender: dict[str, int], race: dict[str, int], ethnicity: dict[str, int]) -> DataFrame:
    return p.select(
        *LINEAGE_COLUMNS,
        "person_id",
        concept_lookup("gender_source_value", gender).alias("gender_concept_id"),
        F.year("birth_ts").alias("year_of_birth"), F.month("birth_ts").alias("month_of_birth"),
        F.dayofmonth("birth_ts").alias("day_of_birth"), F.col("birth_ts").alias("birth_datetime"),
        concept_lookup("race_source_value", race).alias("race_concept_id"),
        concept_lookup("ethnicity_source_value", ethnicity).alias("ethnicity_concept_id"),
        "location_id", "provider_id", "care_site_id",
        F.col("person_pseudonym").alias("person_source_value"),
        _sv("gender_source_value").alias("gender_source_value"), F.lit(0).alias("gender_source_concept_id"),
        _sv("race_source_value").alias("race_source_value"), F.lit(0).alias("race_source_concept_id"),
        _sv("ethnicity_source_value").alias("ethnicity_source_value"), F.lit(0).alias("ethnicity_source_concept_id"),
    )


def death(p: DataFrame, type_concept_id: int) -> DataFrame:
    return p.where(F.col("death_ts").isNotNull()).select(
        "person_id", _d("death_ts").alias("death_date"), F.col("death_ts").alias("death_datetime"),
        F.lit(type_concept_id).alias("death_type_concept_id"),
    )


def visit_occurrence(v: DataFrame, visit_concepts: dict[str, int], type_concept_id: int) -> DataFrame:
    end = F.coalesce(F.col("end_ts"), F.col("start_ts"))
    return v.select(
        *LINEAGE_COLUMNS,
        "visit_occurrence_id", "person_id",
        concept_lookup("visit_class", visit_concepts).alias("visit_concept_id"),
        _d("start_ts").alias("visit_start_date"), F.col("start_ts").alias("visit_start_datetime"),
        F.to_date(end).alias("visit_end_date"), end.alias("visit_end_datetime"),
        F.lit(type_concept_id).alias("visit_type_concept_id"),
        "provider_id", "care_site_id", _sv("visit_source_value").alias("visit_source_value"),
        F.lit(0).alias("visit_source_concept_id"),
    )


def visit_detail(vo: DataFrame) -> DataFrame:
    """One detail per visit (same id), from conformed-shape visit_occurrence rows."""
    return vo.select(
        F.col("visit_occurrence_id").alias("visit_detail_id"), "person_id",
        F.col("visit_concept_id").alias("visit_detail_concept_id"),
        F.col("visit_start_date").alias("visit_detail_start_date"),
        F.col("visit_start_datetime").alias("visit_detail_start_datetime"),
        F.col("visit_end_date").alias("visit_detail_end_date"),
        F.col("visit_end_datetime").alias("visit_detail_end_datetime"),
        F.col("visit_type_concept_id").alias("visit_detail_type_concept_id"),
        "provider_id", "care_site_id",
        F.col("visit_source_value").alias("visit_detail_source_value"),
        F.col("visit_source_concept_id").alias("visit_detail_source_concept_id"),
        "visit_occurrence_id",
    )


def observation_period(visits: DataFrame, events: DataFrame, type_concept_id: int) -> DataFrame:
    """One period per person from the earliest to the latest visit or event date."""
    spans = visits.select("person_id", "start_ts", F.coalesce("end_ts", "start_ts").alias("end_ts")).unionByName(
        events.select("person_id", "start_ts", F.coalesce("end_ts", "start_ts").alias("end_ts"))
    )
    return spans.groupBy("person_id").agg(
        F.to_date(F.min("start_ts")).alias("observation_period_start_date"),
        F.to_date(F.greatest(F.max("end_ts"), F.max("start_ts"))).alias("observation_period_end_date"),
    ).select(
        F.col("person_id").alias("observation_period_id"), "person_id",
        "observation_period_start_date", "observation_period_end_date",
        F.lit(type_concept_id).alias("period_type_concept_id"),
    )


# Length of care_site.care_site_name (varchar(255)).
CARE_SITE_NAME_LEN = 255
# Cost rows of a visit: the "Visit" domain; amounts in US dollars (concept 44818668).
COST_DOMAIN = "Visit"
USD_CONCEPT_ID = 44818668


def location(loc: DataFrame) -> DataFrame:
    return loc.select("location_id", "city", "state", "zip", "county", "latitude", "longitude")


def care_site(cs: DataFrame) -> DataFrame:
    """Care sites with ids and ``care_site_pseudonym`` (keyed hash of the source key)."""
    return cs.select(
        *LINEAGE_COLUMNS, "care_site_id", F.substring("care_site_name", 1, CARE_SITE_NAME_LEN).alias("care_site_name"),
        F.lit(0).alias("place_of_service_concept_id"), "location_id",
        F.col("care_site_pseudonym").alias("care_site_source_value"),
    )


def provider(pr: DataFrame, gender: dict[str, int]) -> DataFrame:
    """Providers with ids and ``provider_pseudonym`` (keyed hash of the source key)."""
    return pr.select(
        *LINEAGE_COLUMNS, "provider_id", F.lit(0).alias("specialty_concept_id"), "care_site_id",
        concept_lookup("gender_source_value", gender).alias("gender_concept_id"),
        F.col("provider_pseudonym").alias("provider_source_value"),
        _sv("specialty_source_value").alias("specialty_source_value"),
        _sv("gender_source_value").alias("gender_source_value"),
    )


def payer_plan_period(pp: DataFrame) -> DataFrame:
    return pp.select(
        *LINEAGE_COLUMNS, "payer_plan_period_id", "person_id",
        _d("start_ts").alias("payer_plan_period_start_date"), _d("end_ts").alias("payer_plan_period_end_date"),
        F.lit(0).alias("payer_concept_id"), _sv("payer_source_value").alias("payer_source_value"),
        _sv("plan_source_value").alias("plan_source_value"),
        _sv("sponsor_source_value").alias("sponsor_source_value"),
    )


def cost(c: DataFrame, type_concept_id: int) -> DataFrame:
    """Visit costs (``cost_event_id`` is the visit's id)."""
    return c.select(
        *LINEAGE_COLUMNS, "cost_id", "cost_event_id", F.lit(COST_DOMAIN).alias("cost_domain_id"),
        F.lit(type_concept_id).alias("cost_type_concept_id"), F.lit(USD_CONCEPT_ID).alias("currency_concept_id"),
        "total_charge", "total_cost", "total_paid", "paid_patient_copay",
    )
