"""Batch scoring on Spark: the cohort's windows, subgroup attributes, hashed keys, model broadcast
+ mapInPandas."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.config.stages import ModelFairnessSettings, ModelSettings
from mlhops.features.spec import FeatureSpec
from mlhops.hashing import KeyedHasher
from mlhops.io.connect import is_connect
from mlhops.io.tables.models import INFERENCE_LOG_SPEC
from mlhops.models.registry import LoadedModel
from mlhops.models.task import TaskSpec
from mlhops.windows import with_windows

# Subgroup attributes read from person-derived feature columns when the feature set has them.
_PERSON_ATTRS = {"sex": "sex", "race": "race", "ethnicity": "ethnicity"}
_PERSON_CONCEPTS = {
    "sex": "gender_concept_id", "race": "race_concept_id", "ethnicity": "ethnicity_concept_id",
}
UNKNOWN = "unknown"


def _shipped(spark: SparkSession, model: Any) -> Callable[[], Any]:
    """How executors get the model: a broadcast variable on a classic session, the function's
    own closure on Spark Connect."""
    if is_connect(spark):
        return lambda: model
    bc = spark.sparkContext.broadcast(model)
    return lambda: bc.value


def age_band(age: Column, edges: Sequence[int]) -> Column:
    """``<e0``, ``e0-e1-1``, ..., ``eN+`` labels for an age in years (null -> unknown)."""
    expr = F.when(age.isNull(), F.lit(UNKNOWN))
    bounds = list(edges)
    expr = expr.when(age < bounds[0], F.lit(f"<{bounds[0]}"))
    for lo, hi in zip(bounds, bounds[1:]):
        expr = expr.when(age < hi, F.lit(f"{lo}-{hi - 1}"))
    return expr.otherwise(F.lit(f"{bounds[-1]}+"))


def scoring_rows(features: DataFrame, visits: DataFrame, person: DataFrame | None, task: TaskSpec,
                 specs: Sequence[FeatureSpec], cfg: ModelSettings) -> DataFrame:
    """Feature rows of the task's index visits with ``sg_*`` subgroups and their scoring window.

    Args:
        features: the feature table.
        visits: ``omop.visit_occurrence`` (selects the task's index visits).
        person: ``omop.person`` when present (subgroups the feature set lacks).
        task: the prediction task.
        specs: the feature specs.
        cfg: the ``models`` section (``window``: tumbling windows over ``event_date``, weeks start Monday).
    """
    index = visits.where(F.col("visit_concept_id").isin(list(task.label.index_visit_concept_ids))).select(
        F.col("visit_occurrence_id").cast("long").alias("_cohort_visit"))
    in_cohort = F.col("visit_occurrence_id").cast("long") == F.col("_cohort_visit")
    cohort = features.join(index, in_cohort).drop("_cohort_visit")
    return with_windows(with_subgroups(cohort, specs, cfg.fairness, person), cfg.window)


def pending_windows(rows: DataFrame, done: DataFrame | None, start: dt.date | None,
                    end: dt.date | None, hasher: KeyedHasher) -> tuple[DataFrame, list[dt.date]]:
    """The rows to score and the starts of their windows.

    A visit is scored once per version, whenever it arrives: a visit landing in a window scored
    on an earlier night is scored on the night it arrives, never skipped.

    Args:
        rows: scoring rows with ``visit_occurrence_id``, ``window_start`` and ``window_end``.
        done: ``visit_hash`` of the visits the version already scored (None: score every row).
        start: with ``end``: only windows overlapping ``[start, end)`` (a day's run scores the
            window that day belongs to, whichever day of it the run is for).
        end: see ``start``.
        hasher: the keyed hasher of the inference log's ``visit_hash``.
    """
    if start is not None:
        rows = rows.where(F.col("window_end") > F.lit(start))
    if end is not None:
        rows = rows.where(F.col("window_start") < F.lit(end))
    if done is not None:
        keyed = rows.withColumn("_visit_hash", hasher.hash("visit_occurrence_id", F.col("visit_occurrence_id")))
        rows = keyed.join(done.withColumnRenamed("visit_hash", "_visit_hash"), "_visit_hash", "left_anti") \
            .drop("_visit_hash")
    starts = sorted(r[0] for r in rows.select("window_start").distinct().collect() if r[0] is not None)
    return rows, starts


def windows_predicate(loaded: LoadedModel, starts: Sequence[dt.date]) -> str:
    """SQL predicate selecting a version's inference-log rows of the given windows (``--force``)."""
    listed = ", ".join(f"DATE'{s.isoformat()}'" for s in starts)
    return (f"model_name = '{loaded.name}' AND model_version = '{loaded.version}' "
            f"AND window_start IN ({listed})")


def with_subgroups(rows: DataFrame, specs: Sequence[FeatureSpec], fairness: ModelFairnessSettings,
                   person: DataFrame | None) -> DataFrame:
    """Add one ``sg_<attribute>`` string column per fairness attribute (``unknown`` when null).

    Values come from the person-derived feature columns, or ``omop.person`` concept ids when the
    feature set lacks them; ``site`` is the care site id.
    """
    by_field = {s.field: s.name for s in specs if s.source == "person"}
    needs_person = any(
        (a in _PERSON_ATTRS and a not in by_field) or (a == "age_band" and "age" not in by_field)
        for a in fairness.attributes
    )
    df = rows
    if needs_person and person is not None:
        p = person.select(
            F.col("person_id").cast("long").alias("_pid"),
            *[F.col(c).cast("string").alias(f"_p_{a}") for a, c in _PERSON_CONCEPTS.items()],
            F.col("year_of_birth").alias("_p_yob"),
        )
        df = df.join(p, F.col("person_id").cast("long") == F.col("_pid"), "left")
    out = df
    for attr in fairness.attributes:
        if attr == "site":
            value = F.col("care_site_id").cast("string")
        elif attr == "age_band":
            if "age" in by_field:
                age = F.col(by_field["age"])
            elif needs_person and person is not None:
                age = F.year("event_date") - F.col("_p_yob")
            else:
                age = F.lit(None).cast("double")
            value = age_band(age, fairness.age_bands)
        elif attr in by_field:
            value = F.col(by_field[attr]).cast("string")
        elif needs_person and person is not None:
            value = F.col(f"_p_{attr}")
        else:
            value = F.lit(None).cast("string")
        out = out.withColumn(f"sg_{attr}", F.coalesce(value, F.lit(UNKNOWN)))
    return out.drop(*[c for c in out.columns if c.startswith("_p_") or c == "_pid"])


def score(
    spark: SparkSession,
    rows: DataFrame,
    loaded: LoadedModel,
    *,
    task: str,
    hasher: KeyedHasher,
    scored_at: dt.datetime,
) -> DataFrame:
    """Score ``rows`` into the inference-log shape.

    ``rows`` are feature rows with ``window_start``/``window_end`` and ``sg_*`` subgroup columns.
    Person and visit ids are logged only as keyed hashes (the hasher that joins labels later).

    The model is broadcast once (a Spark Connect session has no broadcast variables: there it
    travels inside the function, once per query) and applied per Arrow batch with
    ``mapInPandas``; nothing is collected to the driver.
    """
    features = list(loaded.features)
    threshold = float(loaded.profile.threshold)
    model_of = _shipped(spark, loaded.model)
    keys = ["person_id", "visit_occurrence_id", "event_time", "window_start", "window_end"]
    groups = [c for c in rows.columns if c.startswith("sg_")]
    passthrough = keys + groups

    def apply(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model = model_of()
        for pdf in batches:
            if pdf.empty:
                continue
            out = pdf[passthrough].copy()
            out["score"] = model.predict_proba(pdf[features])[:, 1].astype("float64")
            yield out

    ddl = ", ".join(
        ["person_id long", "visit_occurrence_id long", "event_time timestamp",
         "window_start date", "window_end date"]
        + [f"{g} string" for g in groups]
        + ["score double"]
    )
    selected = rows.select(
        F.col("person_id").cast("long"), F.col("visit_occurrence_id").cast("long"),
        F.col("event_time").cast("timestamp"),
        F.col("window_start").cast("date"), F.col("window_end").cast("date"),
        *groups, *[c for c in features if c not in passthrough],
    )
    joined = selected.mapInPandas(apply, ddl)
    entries: list[Column] = []
    for g in groups:
        entries += [F.lit(g[3:]), F.col(g)]
    subgroups = F.create_map(*entries) if entries else F.create_map().cast("map<string,string>")
    out = joined.select(
        F.lit(loaded.name).alias("model_name"),
        F.lit(loaded.version).alias("model_version"),
        F.lit(task).alias("task"),
        F.col("window_start"),
        F.col("window_end"),
        hasher.hash("person_id", F.col("person_id")).alias("person_hash"),
        hasher.hash("visit_occurrence_id", F.col("visit_occurrence_id")).alias("visit_hash"),
        F.col("event_time").cast("timestamp").alias("event_time"),
        F.col("score"),
        F.lit(threshold).alias("threshold"),
        (F.col("score") >= F.lit(threshold)).cast("int").alias("decision"),
        subgroups.alias("subgroups"),
        F.lit(scored_at).cast("timestamp").alias("scored_at"),
    )
    return out.select(*INFERENCE_LOG_SPEC.columns)
