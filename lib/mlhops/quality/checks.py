"""Quality check evaluation: each check is a pair of Spark Columns (applies, fails) on an
enriched table, and all checks of one table are counted per window in one aggregation.

The enriched table is the OMOP table plus, where a check needs them, the person's birth date,
death date and gender concept, the concept domain of checked concept columns, and
foreign-key existence flags (left joins on distinct keys, so row counts never change).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mlhops.io.tables.operations import QUALITY_RESULTS_SCHEMA
from mlhops.quality.rules import SEX_CONCEPTS, CheckSpec
from mlhops.windows import window_bounds

# The date that places a row of each table in a window.
EVENT_DATE: dict[str, str] = {
    "visit_occurrence": "visit_start_date",
    "visit_detail": "visit_detail_start_date",
    "measurement": "measurement_date",
    "observation": "observation_date",
    "condition_occurrence": "condition_start_date",
    "drug_exposure": "drug_exposure_start_date",
    "procedure_occurrence": "procedure_date",
    "device_exposure": "device_exposure_start_date",
    "death": "death_date",
    "observation_period": "observation_period_start_date",
    "specimen": "specimen_date",
    "note": "note_date",
}
# Tables without an event date are checked as one all-time window.
ALL_TIME = ("0001-01-01", "9999-12-31")

_CONCEPT_COLUMN = {
    "measurement": "measurement_concept_id",
    "observation": "observation_concept_id",
    "condition_occurrence": "condition_concept_id",
    "drug_exposure": "drug_concept_id",
    "procedure_occurrence": "procedure_concept_id",
}


def _i(k: int, name: str) -> str:
    return f"_q{k}_{name}"


def enrich(
    table: DataFrame,
    checks: Sequence[CheckSpec],
    frames: Mapping[str, DataFrame],
) -> DataFrame:
    """Add what ``checks`` need: person facts, concept domains, foreign-key flags."""
    df = table
    types = {c.type for c in checks}
    if types & {"before_birth", "after_death", "sex_specific"} and "person_id" in table.columns:
        person = frames["person"]
        birth = F.coalesce(
            F.col("birth_datetime").cast("date"),
            F.make_date("year_of_birth", F.coalesce("month_of_birth", F.lit(1)), F.coalesce("day_of_birth", F.lit(1))),
        )
        facts = person.select("person_id", birth.alias("_birth"), F.col("gender_concept_id").alias("_gender"))
        if "death" in frames:
            death = frames["death"].groupBy("person_id").agg(F.min("death_date").alias("_death"))
            facts = facts.join(death, on="person_id", how="left")
        else:
            facts = facts.withColumn("_death", F.lit(None).cast("date"))
        df = df.join(F.broadcast(facts), on="person_id", how="left")
    for k, c in enumerate(checks):
        if c.type == "concept_domain":
            concepts = frames["concept"].select(
                F.col("concept_id").alias(_i(k, "cid")), F.col("domain_id").alias(_i(k, "domain"))
            )
            df = df.join(F.broadcast(concepts), F.col(c.field or "") == F.col(_i(k, "cid")), "left")
        elif c.type == "foreign_key":
            ref = frames[c.ref_table or ""].select(F.col(c.ref_field or "").alias(_i(k, "ref"))).distinct()
            df = df.join(ref, F.col(c.field or "") == F.col(_i(k, "ref")), "left")
    return df


def condition(c: CheckSpec, k: int) -> tuple[Column, Column]:
    """(applies, fails) Columns of check ``c`` (the ``k``-th of its table)."""
    field = F.col(c.field) if c.field else None
    if c.type == "required_fields":
        assert field is not None
        return F.lit(True), field.isNull()
    if c.type == "value_set":
        assert field is not None
        return field.isNotNull(), ~field.cast("string").isin(list(c.values))
    if c.type == "concept_domain":
        assert field is not None
        # Concepts absent from the loaded vocabulary are a foreign-key question (declare a
        # foreign_key check on concept.concept_id for that), not a domain mismatch.
        applies = field.isNotNull() & (field != 0) & F.col(_i(k, "cid")).isNotNull()
        return applies, F.col(_i(k, "domain")) != F.lit(c.domain)
    if c.type == "foreign_key":
        assert field is not None
        return field.isNotNull(), F.col(_i(k, "ref")).isNull()
    concept = F.col(_CONCEPT_COLUMN.get(c.table, "measurement_concept_id"))
    if c.type == "unit":
        applies = concept.isin(list(c.concept_ids)) & F.col("value_as_number").isNotNull()
        return applies, F.col("unit_concept_id").isNull() | ~F.col("unit_concept_id").isin(list(c.units))
    if c.type == "range":
        value = F.col("value_as_number")
        applies = concept.isin(list(c.concept_ids)) & value.isNotNull()
        low = value < F.lit(c.min) if c.min is not None else F.lit(False)
        high = value > F.lit(c.max) if c.max is not None else F.lit(False)
        return applies, low | high
    if c.type == "before_birth":
        assert field is not None
        d = field.cast("date")
        return d.isNotNull() & F.col("_birth").isNotNull(), d < F.col("_birth")
    if c.type == "after_death":
        assert field is not None
        d = field.cast("date")
        return d.isNotNull() & F.col("_death").isNotNull(), d > F.date_add(F.col("_death"), c.grace_days)
    if c.type == "end_before_start":
        assert field is not None
        end, start = field, F.col(c.start_field or "")
        return end.isNotNull() & start.isNotNull(), end < start
    if c.type == "sex_specific":
        assert field is not None
        other = SEX_CONCEPTS["male" if c.sex == "female" else "female"]
        return field.isin(list(c.concept_ids)), F.col("_gender") == F.lit(other)
    raise ValueError(f"unknown check type {c.type}")


def _counts(c: CheckSpec, k: int) -> list[Column]:
    """Aggregations of check ``c``: rows it applies to (``_q<k>_n``) and of those failing (``_q<k>_f``)."""
    applies, fails = condition(c, k)
    applies = F.coalesce(applies, F.lit(False))
    failing = applies & F.coalesce(fails, F.lit(False))
    return [
        F.sum(F.when(applies, 1).otherwise(0)).cast("long").alias(_i(k, "n")),
        F.sum(F.when(failing, 1).otherwise(0)).cast("long").alias(_i(k, "f")),
    ]


def _result(c: CheckSpec, k: int, granularity: str, default_threshold_pct: float) -> Column:
    """The result struct of check ``c`` in one window (from its counts, the window ``_ws``/``_we``)."""
    threshold = c.threshold_pct if c.threshold_pct is not None else default_threshold_pct
    n, f = F.col(_i(k, "n")), F.col(_i(k, "f"))
    pct = F.when(n > 0, f * 100.0 / n).otherwise(F.lit(0.0))
    return F.struct(
        F.lit(c.id).alias("check_id"),
        F.lit(c.type).alias("check_type"),
        F.lit(c.category).alias("category"),
        F.lit(c.subcategory).alias("subcategory"),
        F.lit(c.table).alias("table_name"),
        F.lit(c.field).cast("string").alias("field"),
        F.lit(granularity).alias("granularity"),
        F.col("_ws").alias("window_start"),
        F.col("_we").alias("window_end"),
        n.alias("rows_checked"),
        f.alias("rows_failing"),
        pct.alias("pct_failing"),
        F.lit(float(threshold)).alias("threshold_pct"),
        F.when(pct > F.lit(float(threshold)), "fail").otherwise("pass").alias("status"),
        F.lit(c.description).alias("description"),
    )


def evaluate_table(
    table_name: str,
    table: DataFrame,
    checks: Sequence[CheckSpec],
    frames: Mapping[str, DataFrame],
    granularity: str,
    default_threshold_pct: float,
) -> DataFrame:
    """Results (:data:`~mlhops.io.tables.operations.QUALITY_RESULTS_SCHEMA`) of every check on one
    table, per window, in one pass."""
    df = enrich(table, checks, frames)
    date_field = EVENT_DATE.get(table_name)
    if date_field:
        start, end = window_bounds(F.col(date_field), granularity)
        gran = granularity
    else:
        start, end = F.lit(ALL_TIME[0]).cast("date"), F.lit(ALL_TIME[1]).cast("date")
        gran = "all"
    windowed = df.withColumns({"_ws": start, "_we": end}).where(F.col("_ws").isNotNull())
    counts = windowed.groupBy("_ws", "_we").agg(*[e for k, c in enumerate(checks) for e in _counts(c, k)])
    rows = [_result(c, k, gran, default_threshold_pct) for k, c in enumerate(checks)]
    out = counts.select(F.explode(F.array(*rows)).alias("_r")).select("_r.*")
    return out.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in QUALITY_RESULTS_SCHEMA.fields])
