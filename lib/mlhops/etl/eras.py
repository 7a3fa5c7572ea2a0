"""condition_era and drug_era with the standard OHDSI era logic.

* Condition eras: occurrences of one person and standard condition concept whose
  [start, end or start + 1 day] intervals lie within 30 days of each other merge into one era
  (persistence window); ``condition_occurrence_count`` counts them.
* Drug eras: exposures rolled up to their RxNorm ingredient (the concept itself when it is an
  ingredient, else its "RxNorm has ing" targets, directly or through one "Consists of" /
  "Tradename of" / "Quantified form of" hop; when the vocabulary has no ingredient link the
  mapped drug concept is used), merged across gaps of at most 30 days; ``gap_days`` is the
  era length minus the days covered by exposures.
Concept 0 (unmapped) never forms an era.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from mlhops.etl.vocabulary import Vocabulary

CONDITION_PERSISTENCE_DAYS = 30
DRUG_GAP_DAYS = 30
HAS_INGREDIENT = "RxNorm has ing"
TO_COMPONENT = ("Consists of", "Tradename of", "Quantified form of")


def _collapse(spans: DataFrame, key: str, pad_days: int) -> DataFrame:
    """Merge ``(person_id, <key>, start, end)`` date spans closer than ``pad_days``.

    Returns ``person_id, key, era_start, era_end, n, covered_days``.
    """
    w = Window.partitionBy("person_id", key).orderBy("start", "end")
    prior = w.rowsBetween(Window.unboundedPreceding, -1)
    marked = spans.withColumn("_prev_end", F.max("end").over(prior)).withColumn(
        "_new", (F.col("_prev_end").isNull() | (F.col("start") > F.date_add("_prev_end", pad_days))).cast("int")
    ).withColumn("_grp", F.sum("_new").over(w.rowsBetween(Window.unboundedPreceding, 0)))
    return marked.groupBy("person_id", key, "_grp").agg(
        F.min("start").alias("era_start"),
        F.max("end").alias("era_end"),
        F.count(F.lit(1)).alias("n"),
        F.sum(F.datediff("end", "start")).alias("covered_days"),
    ).drop("_grp")


def condition_eras(condition_occurrence: DataFrame) -> DataFrame:
    """``person_id, condition_concept_id, condition_era_start_date, condition_era_end_date,
    condition_occurrence_count`` (ids are assigned by the loader)."""
    spans = condition_occurrence.where(F.col("condition_concept_id") != 0).select(
        "person_id",
        "condition_concept_id",
        F.col("condition_start_date").alias("start"),
        F.coalesce("condition_end_date", F.date_add("condition_start_date", 1)).alias("end"),
    )
    eras = _collapse(spans, "condition_concept_id", CONDITION_PERSISTENCE_DAYS)
    return eras.select(
        "person_id", "condition_concept_id",
        F.col("era_start").alias("condition_era_start_date"), F.col("era_end").alias("condition_era_end_date"),
        F.col("n").cast("int").alias("condition_occurrence_count"),
    )


def ingredient_map(vocab: Vocabulary) -> DataFrame:
    """``(drug_concept_id, ingredient_concept_id)`` for the drugs the vocabulary can resolve."""
    rel = vocab.concept_relationship.where(F.col("invalid_reason").isNull())
    concept = vocab.concept
    has_ing = rel.where(F.col("relationship_id") == HAS_INGREDIENT).select(
        F.col("concept_id_1").alias("via"), F.col("concept_id_2").alias("ingredient_concept_id")
    )
    direct = has_ing.select(F.col("via").alias("drug_concept_id"), "ingredient_concept_id")
    hop = rel.where(F.col("relationship_id").isin(*TO_COMPONENT)).select(
        F.col("concept_id_1").alias("drug_concept_id"), F.col("concept_id_2").alias("via")
    ).join(has_ing, "via").select("drug_concept_id", "ingredient_concept_id")
    itself = concept.where(F.col("concept_class_id") == "Ingredient").select(
        F.col("concept_id").alias("drug_concept_id"), F.col("concept_id").alias("ingredient_concept_id")
    )
    resolved = direct.unionByName(itself).withColumn("_pri", F.lit(0)).unionByName(hop.withColumn("_pri", F.lit(1)))
    best = resolved.groupBy("drug_concept_id").agg(F.min("_pri").alias("_pri"))
    return resolved.join(best, ["drug_concept_id", "_pri"]).select("drug_concept_id", "ingredient_concept_id").distinct()


def drug_eras(drug_exposure: DataFrame, vocab: Vocabulary) -> DataFrame:
    """``person_id, drug_concept_id, drug_era_start_date, drug_era_end_date, drug_exposure_count,
    gap_days`` (ids are assigned by the loader)."""
    exp = drug_exposure.where(F.col("drug_concept_id") != 0).select(
        "person_id",
        F.col("drug_concept_id").alias("_drug"),
        F.col("drug_exposure_start_date").alias("start"),
        F.greatest(
            F.coalesce("drug_exposure_end_date", "drug_exposure_start_date"),
            F.date_add("drug_exposure_start_date", F.coalesce(F.col("days_supply"), F.lit(1))),
        ).alias("end"),
    )
    ing = ingredient_map(vocab)
    rolled = exp.join(ing, exp["_drug"] == ing["drug_concept_id"], "left").select(
        "person_id", F.coalesce("ingredient_concept_id", "_drug").alias("drug_concept_id"), "start", "end"
    )
    eras = _collapse(rolled, "drug_concept_id", DRUG_GAP_DAYS)
    length = F.datediff("era_end", "era_start")
    return eras.select(
        "person_id", "drug_concept_id",
        F.col("era_start").alias("drug_era_start_date"), F.col("era_end").alias("drug_era_end_date"),
        F.col("n").cast("int").alias("drug_exposure_count"),
        F.greatest(length - F.col("covered_days"), F.lit(0)).cast("int").alias("gap_days"),
    )
