"""Feature rows from OMOP tables: one row per visit, one column per :class:`FeatureSpec`.

Pure DataFrame -> DataFrame: the caller reads the OMOP tables (``mlhops.io``) and passes them
in, optionally restricted to the visits to rebuild. Each event table is aggregated in one pass
(every feature of that table is a conditional aggregate of the same ``groupBy``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mlhops.features.spec import KEY_COLUMNS, FeatureSpec

# OMOP table, concept column, date column, datetime column, id column of each event source.
EVENT_TABLES: dict[str, tuple[str, str, str, str, str]] = {
    "measurement": ("measurement", "measurement_concept_id", "measurement_date", "measurement_datetime",
                    "measurement_id"),
    "observation": ("observation", "observation_concept_id", "observation_date", "observation_datetime",
                    "observation_id"),
    "condition": ("condition_occurrence", "condition_concept_id", "condition_start_date",
                  "condition_start_datetime", "condition_occurrence_id"),
    "drug": ("drug_exposure", "drug_concept_id", "drug_exposure_start_date", "drug_exposure_start_datetime",
             "drug_exposure_id"),
    "procedure": ("procedure_occurrence", "procedure_concept_id", "procedure_date", "procedure_datetime",
                  "procedure_occurrence_id"),
}

SECONDS_PER_DAY = 86400.0


def required_tables(specs: Sequence[FeatureSpec]) -> list[str]:
    """OMOP tables the specs read (visit_occurrence and person always)."""
    tables = {"visit_occurrence", "person"}
    for s in specs:
        if s.source in EVENT_TABLES:
            tables.add(EVENT_TABLES[s.source][0])
    return sorted(tables)


def feature_schema(specs: Sequence[FeatureSpec]) -> T.StructType:
    """Schema of the feature table: key columns then one column per feature."""
    keys = [
        T.StructField("person_id", T.IntegerType(), False),
        T.StructField("visit_occurrence_id", T.IntegerType(), False),
        T.StructField("event_time", T.TimestampType(), False),
        T.StructField("event_date", T.DateType(), False),
        T.StructField("care_site_id", T.IntegerType(), True),
    ]
    kinds = {"numeric": T.DoubleType(), "categorical": T.StringType(), "binary": T.IntegerType()}
    return T.StructType(keys + [T.StructField(s.name, kinds[s.kind], True) for s in specs])


def _labelled(value: Column, labels: Mapping[str, str]) -> Column:
    text = value.cast("string")
    if not labels:
        return text
    mapping = F.create_map(*[F.lit(x) for kv in sorted(labels.items()) for x in kv])
    return F.coalesce(mapping[text], text)


def _ts(date_col: str, datetime_col: str) -> Column:
    return F.coalesce(F.col(datetime_col), F.col(date_col).cast("timestamp"))


def build_features(tables: Mapping[str, DataFrame], specs: Sequence[FeatureSpec]) -> DataFrame:
    """Feature rows for every visit of ``tables["visit_occurrence"]``.

    Args:
        tables: OMOP DataFrames by table name (see :func:`required_tables`); event tables may
            hold more visits than ``visit_occurrence``, they are joined on the visit id.
        specs: feature definitions.

    Returns:
        A DataFrame with :func:`feature_schema` (visits without a start date are dropped).
    """
    v = tables["visit_occurrence"].where(F.col("visit_start_date").isNotNull())
    start = _ts("visit_start_date", "visit_start_datetime")
    end = _ts("visit_end_date", "visit_end_datetime")
    visits = v.select(
        "visit_occurrence_id",
        "person_id",
        start.alias("event_time"),
        F.col("visit_start_date").alias("event_date"),
        "care_site_id",
        end.alias("_end"),
        "visit_concept_id",
        "admitted_from_concept_id",
        "discharged_to_concept_id",
    )
    p = tables["person"]
    birth = F.coalesce(
        F.col("birth_datetime"),
        F.make_date("year_of_birth", F.coalesce("month_of_birth", F.lit(1)), F.coalesce("day_of_birth", F.lit(1)))
        .cast("timestamp"),
    )
    persons = p.select(
        "person_id", birth.alias("_birth"), "gender_concept_id", "race_concept_id", "ethnicity_concept_id"
    )
    df = visits.join(persons, on="person_id", how="left")
    cols: dict[str, Column] = {}
    for s in specs:
        if s.source == "person":
            if s.field == "age":
                cols[s.name] = F.months_between("event_time", "_birth", roundOff=False) / 12.0
            else:
                concept = {"sex": "gender_concept_id", "race": "race_concept_id", "ethnicity": "ethnicity_concept_id"}
                cols[s.name] = _labelled(F.col(concept[s.field or ""]), s.labels)
        elif s.source == "visit":
            if s.field == "length_of_stay_days":
                seconds = F.unix_timestamp("_end") - F.unix_timestamp("event_time")
                cols[s.name] = F.greatest(seconds / SECONDS_PER_DAY, F.lit(0.0))
            else:
                concept = {"visit_type": "visit_concept_id", "admitted_from": "admitted_from_concept_id",
                           "discharged_to": "discharged_to_concept_id"}
                cols[s.name] = _labelled(F.col(concept[s.field or ""]), s.labels)
    df = df.withColumns(cols) if cols else df
    for source in EVENT_TABLES:
        event_specs = [s for s in specs if s.source == source]
        if event_specs:
            agg = _event_aggregates(tables[EVENT_TABLES[source][0]], source, event_specs)
            df = df.join(agg, on="visit_occurrence_id", how="left")
            for s in event_specs:
                if s.agg in ("count", "any"):
                    df = df.withColumn(s.name, F.coalesce(F.col(s.name), F.lit(0)))
    missing = {
        s.name: F.when(F.col(s.of or "").isNull(), F.lit(1)).otherwise(F.lit(0))
        for s in specs
        if s.source == "missing"
    }
    if missing:
        df = df.withColumns(missing)
    schema = feature_schema(specs)
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields]).where(
        F.col("person_id").isNotNull()
    )


def _event_aggregates(events: DataFrame, source: str, specs: Sequence[FeatureSpec]) -> DataFrame:
    _table, concept_col, date_col, datetime_col, id_col = EVENT_TABLES[source]
    all_ids = sorted({c for s in specs for c in s.concept_ids})
    rows = events.where(F.col("visit_occurrence_id").isNotNull())
    if all_ids and all(s.concept_ids for s in specs):
        rows = rows.where(F.col(concept_col).isin(all_ids))
    when_ts = _ts(date_col, datetime_col)
    exprs: list[Column] = []
    for s in specs:
        hit = F.col(concept_col).isin(list(s.concept_ids)) if s.concept_ids else F.lit(True)
        field = s.field or "value_as_number"
        if s.agg == "count":
            exprs.append(F.count(F.when(hit, F.lit(1))).alias(s.name))
        elif s.agg == "any":
            exprs.append(F.max(F.when(hit, F.lit(1)).otherwise(F.lit(0))).alias(s.name))
        else:
            value = F.when(hit, F.col(field))
            order = F.when(hit & F.col(field).isNotNull(), F.struct(when_ts, F.col(id_col)))
            if s.agg == "mean":
                exprs.append(F.avg(value).alias(s.name))
            elif s.agg == "min":
                exprs.append(F.min(value).alias(s.name))
            elif s.agg == "max":
                exprs.append(F.max(value).alias(s.name))
            elif s.agg == "last":
                exprs.append(F.max_by(value, order).alias(s.name))
            else:
                exprs.append(F.min_by(value, order).alias(s.name))
    out = rows.groupBy("visit_occurrence_id").agg(*exprs)
    return out.select("visit_occurrence_id", *[F.col(s.name) for s in specs])


__all__ = ["KEY_COLUMNS", "build_features", "feature_schema", "required_tables"]
