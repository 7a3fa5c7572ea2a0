"""The shared mapping core: source codes -> OMOP concepts, events -> OMOP domain tables.

For each event:
  * ``source_concept_id``: the concept with the event's (vocabulary_id, code), else 0;
  * ``concept_id``: the standard concept the source concept "Maps to" (or the source concept
    itself when it is standard), else 0; with several valid targets, the one in the event's
    default domain wins, then the lowest id (one OMOP row per source fact);
  * ``domain_id`` of that standard concept, and ``target_table``: the OMOP table of that domain,
    or of the event's ``default_domain`` when unmapped or the domain has no event table;
  * ``unit_concept_id``: the UCUM concept whose code equals ``unit_source_value``, else 0;
  * ``value_as_concept_id``: for a drug allergy (``default_domain`` :data:`ALLERGY` and a code
    that is a drug: Drug domain, or an unmapped RxNorm code) the drug's standard concept (0 when
    unmapped), while ``concept_id`` becomes "Allergy to drug" and the target OBSERVATION; null
    for every other event. Every allergy targets OBSERVATION.
Unmapped codes keep concept 0 and their source value; nothing is dropped here.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from mlhops.etl.events import ALLERGY, DOMAIN_TABLE, DRUG_ALLERGY_CODE
from mlhops.etl.vocabulary import Vocabulary

MAPS_TO = "Maps to"
UNIT_VOCABULARY = "UCUM"

MAPPED_EXTRA_COLUMNS = [
    "source_concept_id", "concept_id", "domain_id", "target_table", "unit_concept_id", "value_as_concept_id",
]


def _domain_table_expr(domain: F.Column) -> F.Column:
    expr = F.lit(None).cast("string")
    for dom, table in DOMAIN_TABLE.items():
        expr = F.when(domain == dom, F.lit(table)).otherwise(expr)
    return expr


def standard_map(vocab: Vocabulary) -> DataFrame:
    """Source concept -> standard target candidates: ``(source_concept_id, concept_id, domain_id)``.

    Standard source concepts map to themselves in addition to their "Maps to" targets.
    """
    concept = vocab.concept
    valid = F.col("invalid_reason").isNull()
    targets = concept.where((F.col("standard_concept") == "S") & valid).select(
        F.col("concept_id").alias("concept_id"), F.col("domain_id")
    )
    rel = vocab.concept_relationship.where((F.col("relationship_id") == MAPS_TO) & valid).select(
        F.col("concept_id_1").alias("source_concept_id"), F.col("concept_id_2").alias("concept_id")
    )
    self_map = targets.select(F.col("concept_id").alias("source_concept_id"), "concept_id")
    return rel.unionByName(self_map).distinct().join(targets, "concept_id")


def map_events(events: DataFrame, vocab: Vocabulary) -> DataFrame:
    """Add ``source_concept_id``, ``concept_id``, ``domain_id``, ``target_table`` and
    ``unit_concept_id`` to an event frame (one output row per input event)."""
    concept = vocab.concept
    source = concept.select(
        F.col("vocabulary_id"),
        F.col("concept_code").alias("code"),
        F.col("concept_id").alias("source_concept_id"),
    ).dropDuplicates(["vocabulary_id", "code"])
    with_source = events.join(source, ["vocabulary_id", "code"], "left")

    candidates = standard_map(vocab)
    preferred = F.when(F.col("default_domain") == ALLERGY, F.lit("Observation")).otherwise(F.col("default_domain"))
    ranked = (
        with_source.select("event_key", "source_concept_id", preferred.alias("default_domain"))
        .where(F.col("source_concept_id").isNotNull())
        .join(candidates, "source_concept_id")
        .withColumn(
            "_rank",
            F.row_number().over(
                Window.partitionBy("event_key").orderBy(
                    (F.col("domain_id") != F.col("default_domain")).cast("int"), F.col("concept_id")
                )
            ),
        )
        .where(F.col("_rank") == 1)
        .select("event_key", "concept_id", "domain_id")
    )
    units = concept.where(F.col("vocabulary_id") == UNIT_VOCABULARY).select(
        F.col("concept_code").alias("unit_source_value"), F.col("concept_id").alias("unit_concept_id")
    ).dropDuplicates(["unit_source_value"])

    # One row whatever the vocabulary holds: the "Allergy to drug" concept, null when it lacks it.
    vocab_id, code = DRUG_ALLERGY_CODE
    drug_allergy = concept.where(
        (F.col("vocabulary_id") == vocab_id) & (F.col("concept_code") == code) & (F.col("standard_concept") == "S")
    ).agg(F.min("concept_id").alias("_drug_allergy"))

    mapped = (
        with_source.join(ranked, "event_key", "left")
        .join(units, "unit_source_value", "left")
        .crossJoin(F.broadcast(drug_allergy))
    )
    is_allergy = F.col("default_domain") == ALLERGY
    concept_id = F.coalesce("concept_id", F.lit(0)).cast("int")
    is_drug_allergy = is_allergy & (
        (F.col("domain_id") == "Drug") | (F.col("domain_id").isNull() & (F.col("vocabulary_id") == "RxNorm"))
    )
    routed = _domain_table_expr(F.col("domain_id"))
    fallback = _domain_table_expr(F.col("default_domain"))
    return mapped.select(
        *events.columns,
        F.coalesce("source_concept_id", F.lit(0)).cast("int").alias("source_concept_id"),
        F.when(is_drug_allergy, F.coalesce("_drug_allergy", F.lit(0)).cast("int")).otherwise(concept_id).alias("concept_id"),
        F.col("domain_id"),
        F.when(is_allergy, F.lit("observation")).otherwise(F.coalesce(routed, fallback)).alias("target_table"),
        F.when(F.col("unit_source_value").isNull(), F.lit(None).cast("int"))
        .otherwise(F.coalesce("unit_concept_id", F.lit(0)))
        .cast("int")
        .alias("unit_concept_id"),
        F.when(is_drug_allergy, concept_id).alias("value_as_concept_id"),
    )


def mapping_rates(mapped: DataFrame) -> dict[str, dict[str, float]]:
    """Per-vocabulary mapping summary in one aggregation pass.

    Returns:
        ``{vocabulary_id: {"events": n, "mapped": m, "rate": m / n, "codes": k, "codes_mapped": j}}``
        where ``mapped`` counts events whose code has a standard concept (concept_id != 0, or
        for a drug allergy value_as_concept_id != 0: the code is the value).
    """
    is_mapped = F.coalesce(F.col("value_as_concept_id"), F.col("concept_id")) != 0
    rows = (
        mapped.groupBy("vocabulary_id")
        .agg(
            F.count(F.lit(1)).alias("events"),
            F.sum(is_mapped.cast("long")).alias("mapped"),
            F.countDistinct("code").alias("codes"),
            F.countDistinct(F.when(is_mapped, F.col("code"))).alias("codes_mapped"),
        )
        .collect()
    )
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        n = int(r["events"])
        out[r["vocabulary_id"]] = {
            "events": float(n),
            "mapped": float(r["mapped"] or 0),
            "rate": (float(r["mapped"] or 0) / n) if n else 0.0,
            "codes": float(r["codes"]),
            "codes_mapped": float(r["codes_mapped"]),
        }
    return out


def route(mapped: DataFrame, table: str) -> DataFrame:
    """The mapped events destined for one OMOP event table."""
    return mapped.where(F.col("target_table") == table)
