"""HIPAA Safe Harbor generalisation of the OMOP ``person``, ``location`` and ``death`` rows, applied
by every source: the shared loader (Synthea CSV, FHIR) in :mod:`mlhops.etl.steps.rows`, an
existing CDM export in :mod:`mlhops.etl.steps.cdm`. Nothing here is configurable: Safe Harbor
leaves no choice for these items (only the date shift of event dates has a setting,
``deid.date_shift_max_days``).

* Birth dates keep only the year: ``month_of_birth``, ``day_of_birth`` and ``birth_datetime``
  are null (45 CFR 164.514(b)(2)(i)(C): all elements of dates except the year).
* Ages over 89 form one bucket: a person older than :data:`MAX_EXACT_AGE` at the latest date the
  batch shows (its latest visit, event, observation period or death) gets ``year_of_birth =
  latest year - TOP_CODED_AGE``, so every such person reads as exactly 90 at that date.
* Geography below the state is reduced to the first three ZIP digits, ``000`` where the
  three-digit area has 20,000 people or fewer (:data:`RESTRICTED_ZIP3`, the HHS list); city,
  county, latitude, longitude and address lines are null, ``location_source_value`` holds no
  address (null).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

# Oldest age kept exactly; older people are grouped (Safe Harbor: "ages over 89").
MAX_EXACT_AGE = 89
# The age every grouped person reads as at the batch's latest date.
TOP_CODED_AGE = 90
# Three-digit ZIP areas with 20,000 people or fewer (HHS de-identification guidance, 2010 census).
RESTRICTED_ZIP3 = frozenset({
    "036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878", "879", "884",
    "890", "893",
})
# What a restricted or unknown-size three-digit area becomes.
ZIP3_SUPPRESSED = "000"
_ZIP3_DIGITS = 3
# Location columns that identify a place below the ZIP3 area (or carry an address).
_LOCATION_NULLED = ("address_1", "address_2", "city", "county", "latitude", "longitude", "location_source_value")
# Birth columns finer than the year.
_BIRTH_NULLED = ("month_of_birth", "day_of_birth", "birth_datetime")


def zip3(zip_code: Column) -> Column:
    """The first three digits of a US ZIP code (``000`` for a restricted area; null if it has no
    three leading digits)."""
    digits = F.regexp_extract(F.trim(zip_code.cast("string")), r"^(\d{3})", 1)
    restricted = F.lit(sorted(RESTRICTED_ZIP3))
    return (F.when(digits == "", F.lit(None).cast("string"))
            .when(F.array_contains(restricted, digits), F.lit(ZIP3_SUPPRESSED))
            .otherwise(digits))


def generalise_location(loc: DataFrame) -> DataFrame:
    """OMOP ``location`` rows with ZIP3 and nothing finer (columns the frame lacks are skipped)."""
    out = loc.withColumn("zip", zip3(F.col("zip"))) if "zip" in loc.columns else loc
    for c in _LOCATION_NULLED:
        if c in out.columns:
            out = out.withColumn(c, F.lit(None).cast(dict(out.dtypes)[c]))
    return out


def _age_at(person: DataFrame, latest: Column) -> Column:
    """Whole years from birth to ``latest``: exact where the birth date is known, else by year."""
    birth = F.coalesce(
        F.col("birth_datetime").cast("date") if "birth_datetime" in person.columns else F.lit(None).cast("date"),
        # try_: a CDM export may hold an impossible month/day; that row is aged by year instead.
        F.try_to_timestamp(F.format_string("%04d-%02d-%02d", "year_of_birth", "month_of_birth", "day_of_birth"),
                           F.lit("yyyy-MM-dd")).cast("date")
        if {"month_of_birth", "day_of_birth"} <= set(person.columns) else F.lit(None).cast("date"),
    )
    by_date = F.floor(F.months_between(latest, birth) / 12).cast("int")
    return F.coalesce(by_date, F.year(latest) - F.col("year_of_birth"))


def generalise_person(person: DataFrame, latest: dt.date | None) -> DataFrame:
    """OMOP ``person`` rows with the year of birth only and ages over 89 grouped at ``latest``.

    Args:
        person: OMOP-shaped person rows (``year_of_birth`` and any of month/day/datetime).
        latest: the latest date the batch shows (None: no dated row; nobody is grouped).
    """
    out = person
    if latest is not None:
        at = F.lit(latest)
        out = out.withColumn(
            "year_of_birth",
            F.when(_age_at(person, at) > MAX_EXACT_AGE, F.lit(latest.year - TOP_CODED_AGE))
            .otherwise(F.col("year_of_birth")).cast(dict(person.dtypes)["year_of_birth"]),
        )
    for c in _BIRTH_NULLED:
        if c in out.columns:
            out = out.withColumn(c, F.lit(None).cast(dict(out.dtypes)[c]))
    return out


def latest_date(dated: list[tuple[DataFrame, str]]) -> dt.date | None:
    """The latest date among ``(frame, date or timestamp column)`` pairs, in one aggregation per
    frame (None when every frame is empty)."""
    latest: dt.date | None = None
    for frame, col in dated:
        if col not in frame.columns:
            continue
        value = frame.agg(F.max(F.to_date(F.col(col))).alias("d")).first()
        d = None if value is None else value["d"]
        if d is not None and (latest is None or d > latest):
            latest = d
    return latest
