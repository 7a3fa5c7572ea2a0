"""Per-file parsers of a Synthea CSV export (2.x and 3.x layouts) into source-neutral frames.

Each parser takes the all-string frame of one file (see :mod:`mlhops.etl.csv_reader`) and
returns ``(rows, rejects)``; rows carry lineage and the columns of the target frame schema.
Column differences between Synthea versions are resolved from each file's header
(:mod:`~mlhops.etl.sources.synthea_layout`).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mlhops.etl import parse
from mlhops.etl.events import EVENT_COLUMNS, LINEAGE_COLUMNS
from mlhops.etl.sources.synthea_layout import FileLayout

# Synthea SYSTEM strings -> OMOP vocabulary_id.
SYSTEM_VOCABULARY: dict[str, str] = {
    "SNOMED-CT": "SNOMED",
    "SNOMED": "SNOMED",
    "http://snomed.info/sct": "SNOMED",
    "RxNorm": "RxNorm",
    "LOINC": "LOINC",
    "CVX": "CVX",
    "ICD10": "ICD10CM",
}
# SYSTEM values that name no code system.
UNKNOWN_SYSTEMS = ("", "unknown")
# Digits of a US ZIP kept in locations (HIPAA safe harbour keeps the first three).
ZIP_DIGITS = 3
# OMOP location.state is varchar(2): US state and territory names (patients.csv writes them in
# full, organizations.csv as USPS codes) -> USPS codes.
US_STATES: dict[str, str] = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA", "Colorado": "CO",
    "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC", "Florida": "FL", "Georgia": "GA",
    "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA", "Kansas": "KS",
    "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA",
    "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO", "Montana": "MT",
    "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM",
    "New York": "NY", "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK",
    "Oregon": "OR", "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD",
    "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington": "WA",
    "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY", "Puerto Rico": "PR", "Guam": "GU",
    "American Samoa": "AS", "Northern Mariana Islands": "MP", "U.S. Virgin Islands": "VI",
}


def _null(dtype: str) -> Column:
    return F.lit(None).cast(dtype)


def _opt(df: DataFrame, name: str) -> Column:
    """Column ``name`` of ``df``, or a null string when the file's layout lacks it."""
    return F.col(name) if name in df.columns else _null("string")


def _key(*cols: str | Column) -> Column:
    return F.concat_ws("|", *[F.coalesce(F.col(c) if isinstance(c, str) else c, F.lit("")) for c in cols])


def _impossible(start: Column, end: Column, field: str) -> parse.Check:
    return (field, start.isNotNull() & end.isNotNull() & (end < start), "impossible dates: end before start")


def _vocab_from_system(df: DataFrame, default: str | Column) -> Column:
    """OMOP vocabulary_id from the file's SYSTEM column; ``default`` without one, or where SYSTEM
    is empty or ``Unknown`` (Synthea 3.3 writes that for every allergy code)."""
    fallback = default if isinstance(default, Column) else F.lit(default)
    if "SYSTEM" not in df.columns:
        return fallback
    expr = F.lit(None).cast("string")
    for system, vocab in SYSTEM_VOCABULARY.items():
        expr = F.when(F.col("SYSTEM") == system, F.lit(vocab)).otherwise(expr)
    known = F.when(~F.lower(F.col("SYSTEM")).isin(*UNKNOWN_SYSTEMS), F.col("SYSTEM"))
    return F.coalesce(expr, known, fallback)


def allergy_vocabulary(df: DataFrame) -> Column:
    """Vocabulary of an allergies.csv code: its SYSTEM; where that is missing or ``Unknown``,
    RxNorm for CATEGORY ``medication`` (Synthea codes drug allergies by RxNorm ingredient) and
    SNOMED otherwise (substances and findings)."""
    if "CATEGORY" not in df.columns:
        return _vocab_from_system(df, "SNOMED")
    by_category = F.when(F.lower(F.col("CATEGORY")) == "medication", F.lit("RxNorm")).otherwise(F.lit("SNOMED"))
    return _vocab_from_system(df, by_category)


def clinical_events(
    df: DataFrame,
    *,
    start: str,
    end: str | None,
    vocabulary: Column,
    code: str,
    default_domain: str | Column,
    type_concept_id: int,
    key_extra: list[str | Column] | None = None,
    extra: dict[str, Column] | None = None,
    extra_checks: list[parse.Check] | None = None,
) -> tuple[DataFrame, DataFrame]:
    """Parse one Synthea clinical file (conditions, medications, ...) into events.

    Args:
        df: all-string frame with lineage.
        start: start date/time column; ``end``: optional end column.
        vocabulary: OMOP vocabulary_id expression; ``code``: code column.
        default_domain: table domain when the code is unmapped.
        type_concept_id: provenance concept (Type Concept vocabulary).
        key_extra: columns added to (PATIENT, ENCOUNTER, start, code) in the event key.
        extra: event columns beyond the common ones (name -> expression on ``df``).
        extra_checks: further reject checks.
    """
    start_ts = parse.ts(start)
    end_ts = parse.ts(end) if end else _null("timestamp")
    checks: list[parse.Check] = [
        parse.required("PATIENT"),
        parse.required(start),
        parse.parses(start, start_ts, "timestamp"),
        parse.required(code),
    ]
    if end:
        checks += [parse.parses(end, end_ts, "timestamp"), _impossible(start_ts, end_ts, end)]
    checks += extra_checks or []
    good, rejects = parse.split_rejects(df, checks)
    cols: dict[str, Column] = {
        "person_key": F.col("PATIENT"),
        "visit_key": F.col("ENCOUNTER") if "ENCOUNTER" in df.columns else _null("string"),
        "provider_key": _null("string"),
        "start_ts": start_ts,
        "end_ts": end_ts,
        "vocabulary_id": vocabulary,
        "code": F.trim(F.col(code)),
        "default_domain": default_domain if isinstance(default_domain, Column) else F.lit(default_domain),
        "type_concept_id": F.lit(type_concept_id).cast("int"),
    }
    cols.update(extra or {})
    cols["event_key"] = event_key(start, code, key_extra)
    out = good.select(
        *LINEAGE_COLUMNS,
        *[(cols[c] if c in cols else F.lit(None)).cast(_EVENT_TYPES[c]).alias(c) for c in EVENT_COLUMNS if c not in LINEAGE_COLUMNS],
    )
    return out, rejects


def event_key(start: str, code: str, key_extra: list[str | Column] | None = None) -> Column:
    """Natural key of a clinical row's event: (PATIENT, ENCOUNTER, start, code, extra columns),
    namespaced by the source table so that two files never share a key."""
    return F.concat_ws("|", F.col("source_table"), _key("PATIENT", "ENCOUNTER", start, code, *(key_extra or [])))


def _event_types() -> dict[str, str]:
    from mlhops.etl.events import EVENT_SCHEMA

    return {f.name: f.dataType.simpleString() for f in EVENT_SCHEMA.fields}


_EVENT_TYPES = _event_types()


def state_code(col: str) -> Column:
    """A US state or territory name as its USPS code; other values unchanged."""
    codes = F.create_map(*[F.lit(x) for k, v in US_STATES.items() for x in (k.lower(), v)])
    return F.coalesce(F.element_at(codes, F.lower(F.trim(F.col(col)))), F.col(col))


def zip3(col: str) -> Column:
    """First digits of a ZIP code (safe-harbour generalisation)."""
    return F.substring(F.regexp_replace(F.col(col), "[^0-9]", ""), 1, ZIP_DIGITS)


def patients(df: DataFrame) -> tuple[DataFrame, DataFrame, DataFrame]:
    """patients.csv -> (persons, locations, rejects). Names, SSN, licence, passport, street
    address and exact home coordinates are never selected."""
    birth = parse.ts("BIRTHDATE")
    death = parse.ts("DEATHDATE")
    checks = [
        parse.required("Id"),
        parse.required("BIRTHDATE"),
        parse.parses("BIRTHDATE", birth, "date"),
        parse.parses("DEATHDATE", death, "date"),
        ("DEATHDATE", death.isNotNull() & (death < birth), "impossible dates: death before birth"),
    ]
    good, rejects = parse.split_rejects(df, checks)
    state = state_code("STATE") if "STATE" in df.columns else F.lit("")
    loc_parts = [F.col("CITY") if "CITY" in df.columns else F.lit(""), state,
                 F.col("COUNTY") if "COUNTY" in df.columns else F.lit("")]
    zip_col = zip3("ZIP") if "ZIP" in df.columns else F.lit(None).cast("string")
    loc_key = F.when(
        F.coalesce(*loc_parts, zip_col).isNotNull(),
        F.concat_ws("|", F.lit("residence"), *[F.coalesce(p, F.lit("")) for p in loc_parts], F.coalesce(zip_col, F.lit(""))),
    )
    persons = good.select(
        *LINEAGE_COLUMNS,
        F.col("Id").alias("person_key"),
        birth.alias("birth_ts"),
        death.alias("death_ts"),
        F.col("GENDER").alias("gender_source_value"),
        F.col("RACE").alias("race_source_value"),
        F.col("ETHNICITY").alias("ethnicity_source_value"),
        loc_key.alias("location_key"),
        _null("string").alias("provider_key"),
        _null("string").alias("care_site_key"),
    )
    locations = good.where(loc_key.isNotNull()).select(
        *LINEAGE_COLUMNS,
        loc_key.alias("location_key"),
        _opt(good, "CITY").alias("city"),
        state.alias("state"),
        zip_col.alias("zip"),
        _opt(good, "COUNTY").alias("county"),
        _null("double").alias("latitude"),
        _null("double").alias("longitude"),
    )
    return persons, locations, rejects


def organizations(df: DataFrame) -> tuple[DataFrame, DataFrame, DataFrame]:
    """organizations.csv -> (care_sites, locations, rejects). Street address and phone are dropped."""
    good, rejects = parse.split_rejects(df, [parse.required("Id")])
    loc_key = F.concat_ws("|", F.lit("organization"), F.col("Id"))
    care_sites = good.select(
        *LINEAGE_COLUMNS,
        F.col("Id").alias("care_site_key"),
        _opt(good, "NAME").alias("care_site_name"),
        loc_key.alias("location_key"),
        _null("string").alias("place_of_service_source_value"),
    )
    locations = good.select(
        *LINEAGE_COLUMNS,
        loc_key.alias("location_key"),
        _opt(good, "CITY").alias("city"),
        (state_code("STATE") if "STATE" in good.columns else _null("string")).alias("state"),
        _opt(good, "ZIP").alias("zip"),
        _null("string").alias("county"),
        (parse.num("LAT") if "LAT" in good.columns else _null("double")).alias("latitude"),
        (parse.num("LON") if "LON" in good.columns else _null("double")).alias("longitude"),
    )
    return care_sites, locations, rejects


def providers(df: DataFrame) -> tuple[DataFrame, DataFrame]:
    """providers.csv -> (providers, rejects). The clinician's name and address are dropped."""
    good, rejects = parse.split_rejects(df, [parse.required("Id")])
    return good.select(
        *LINEAGE_COLUMNS,
        F.col("Id").alias("provider_key"),
        _opt(good, "ORGANIZATION").alias("care_site_key"),
        _opt(good, "GENDER").alias("gender_source_value"),
        _opt(good, "SPECIALITY").alias("specialty_source_value"),
    ), rejects


def encounters(df: DataFrame) -> tuple[DataFrame, DataFrame]:
    """encounters.csv -> (visits, rejects)."""
    start, end = parse.ts("START"), parse.ts("STOP")
    checks = [
        parse.required("Id"),
        parse.required("PATIENT"),
        parse.required("START"),
        parse.parses("START", start, "timestamp"),
        parse.parses("STOP", end, "timestamp"),
        _impossible(start, end, "STOP"),
        parse.required("ENCOUNTERCLASS"),
    ]
    good, rejects = parse.split_rejects(df, checks)
    return good.select(
        *LINEAGE_COLUMNS,
        F.col("Id").alias("visit_key"),
        F.col("PATIENT").alias("person_key"),
        start.alias("start_ts"),
        end.alias("end_ts"),
        F.lower(F.col("ENCOUNTERCLASS")).alias("visit_class"),
        F.col("ENCOUNTERCLASS").alias("visit_source_value"),
        _opt(good, "PROVIDER").alias("provider_key"),
        _opt(good, "ORGANIZATION").alias("care_site_key"),
    ), rejects


def payer_transitions(df: DataFrame, layout: FileLayout, payers: DataFrame | None) -> tuple[DataFrame, DataFrame]:
    """payer_transitions.csv -> (payer_periods, rejects).

    The period bounds are the columns ``layout`` resolved: START_DATE/END_DATE (3.3,
    timestamps), START_YEAR/END_YEAR (timestamps in 3.0-3.2, plain years in 2.x, read as whole
    calendar years). The plan owner's name (OWNERNAME / OWNER_NAME) is never selected.
    """
    start_col, end_col = layout.col("START"), layout.col("END")

    def bound(col: str, end: bool) -> Column:
        year = F.col(col).rlike(r"^\d{4}$")
        whole = F.make_timestamp(parse.integer(col), F.lit(12 if end else 1), F.lit(31 if end else 1), F.lit(0), F.lit(0), F.lit(0))
        return F.when(year, whole).otherwise(parse.ts(col))

    start, end = bound(start_col, False), bound(end_col, True)
    checks = [
        parse.required("PATIENT"),
        parse.required("PAYER"),
        parse.required(start_col),
        parse.parses(start_col, start, "date"),
        parse.required(end_col),
        parse.parses(end_col, end, "date"),
        _impossible(start, end, end_col),
    ]
    good, rejects = parse.split_rejects(df, checks)
    if payers is not None:
        names = payers.select(F.col("Id").alias("PAYER"), _opt(payers, "NAME").alias("_payer_name")).dropDuplicates(["PAYER"])
        good = good.join(F.broadcast(names), "PAYER", "left")
    else:
        good = good.withColumn("_payer_name", _null("string"))
    sponsor = F.col(layout.col("OWNERSHIP")) if layout.has("OWNERSHIP") else _null("string")
    return good.select(
        *LINEAGE_COLUMNS,
        F.col("PATIENT").alias("person_key"),
        F.col("PAYER").alias("payer_key"),
        start.alias("start_ts"),
        end.alias("end_ts"),
        F.col("_payer_name").alias("payer_source_value"),
        _null("string").alias("plan_source_value"),
        sponsor.alias("sponsor_source_value"),
    ), rejects


def claims_costs(claims: DataFrame, transactions: DataFrame | None) -> tuple[DataFrame, DataFrame, DataFrame, DataFrame]:
    """claims.csv (+ claims_transactions.csv) -> (costs, claim rejects, transaction rejects,
    transactions filtered as aggregated into their claim's cost row)."""
    good, rejects = parse.split_rejects(claims, [parse.required("Id"), parse.required("APPOINTMENTID")])
    if transactions is None:
        sums = None
        t_rejects = t_filtered = None
    else:
        amount, payment = parse.num("AMOUNT"), parse.num("PAYMENTS")
        t_good, t_rejects = parse.split_rejects(
            transactions,
            [
                parse.required("CLAIMID"),
                parse.parses("AMOUNT", amount, "number"),
                parse.parses("PAYMENTS", payment, "number"),
            ],
        )
        claim_ids = good.select(F.col("Id").alias("CLAIMID"))
        unknown = t_good.join(claim_ids, "CLAIMID", "left_anti").select(
            *LINEAGE_COLUMNS, F.lit("CLAIMID").alias("field"), F.lit("unknown claim").alias("reason")
        )
        t_rejects = t_rejects.unionByName(unknown)
        known = t_good.join(claim_ids, "CLAIMID", "left_semi")
        is_charge, is_payment = F.col("TYPE") == "CHARGE", F.col("TYPE") == "PAYMENT"
        sums = known.groupBy("CLAIMID").agg(
            F.sum(F.when(is_charge, amount)).alias("total_charge"),
            F.sum(F.when(is_payment, payment)).alias("total_paid"),
            F.sum(F.when(is_payment & (F.col("METHOD") == "COPAY"), payment)).alias("paid_patient_copay"),
        )
        t_filtered = known.select(*LINEAGE_COLUMNS, F.lit("aggregated into the cost row of its claim").alias("reason"))
    base = good.select(*LINEAGE_COLUMNS, F.col("Id").alias("cost_key"), F.col("APPOINTMENTID").alias("visit_key"))
    if sums is not None:
        base = base.join(sums.withColumnRenamed("CLAIMID", "cost_key"), "cost_key", "left")
    else:
        base = base.select("*", *[_null("double").alias(c) for c in ("total_charge", "total_paid", "paid_patient_copay")])
    costs = base.select(
        *LINEAGE_COLUMNS, "cost_key", "visit_key", "total_charge", _null("double").alias("total_cost"), "total_paid",
        "paid_patient_copay",
    )
    return costs, rejects, t_rejects, t_filtered


# Patient columns holding direct identifiers. Never loaded; also used to scrub free-text values
# (Synthea's social-history surveys record the home address as an observation value).
IDENTIFIER_COLUMNS = ("SSN", "DRIVERS", "PASSPORT", "PREFIX", "FIRST", "MIDDLE", "LAST", "SUFFIX", "MAIDEN", "ADDRESS")
# Shorter strings (e.g. a "Mr." prefix) would redact ordinary text.
MIN_IDENTIFIER_LEN = 4
REDACTED = "[redacted: identifier]"


def patient_identifiers(patients_df: DataFrame) -> DataFrame:
    """``(PATIENT, identifiers: array<string>)`` of each patient's direct identifiers."""
    present = [c for c in IDENTIFIER_COLUMNS if c in patients_df.columns]
    values = F.filter(
        F.array(*[F.col(c) for c in present]) if present else F.array().cast("array<string>"),
        lambda x: x.isNotNull() & (F.length(x) >= MIN_IDENTIFIER_LEN),
    )
    return patients_df.select(F.col("Id").alias("_phi_patient"), values.alias("_phi_values"))


def redact_identifiers(events: DataFrame, identifiers: DataFrame) -> DataFrame:
    """Blank text values of an event that contain one of its patient's identifiers.

    ``value_as_string`` becomes null and ``value_source_value`` a fixed marker; the event itself
    is still loaded (its code and date are not identifying).
    """
    joined = events.join(identifiers, events["person_key"] == identifiers["_phi_patient"], "left")
    text = F.concat_ws(" ", F.coalesce("value_as_string", F.lit("")), F.coalesce("value_source_value", F.lit("")))
    leaks = F.coalesce(F.exists("_phi_values", lambda x: text.contains(x)), F.lit(False))
    return joined.select(
        *[
            F.when(leaks, F.lit(None).cast("string")).otherwise(F.col(c)).alias(c) if c == "value_as_string"
            else F.when(leaks, F.lit(REDACTED)).otherwise(F.col(c)).alias(c) if c == "value_source_value"
            else F.col(c)
            for c in events.columns
        ]
    )
