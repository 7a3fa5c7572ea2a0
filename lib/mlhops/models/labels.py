"""Task labels from OMOP ``visit_occurrence`` (pure DataFrame -> DataFrame) and their cut-off."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mlhops.io.tables.models import LABELS_SPEC
from mlhops.models.task import TaskSpec


def label_cutoff(as_of: dt.date | None, end: dt.date | None) -> dt.date:
    """The labels-known-by date of a train or evaluate run.

    Args:
        as_of: the date the operator asked for, if any.
        end: the end of the requested window (exclusive), if any.

    Returns:
        ``as_of``; else the last day of the window; else today (UTC).
    """
    if as_of is not None:
        return as_of
    if end is not None:
        return end - dt.timedelta(days=1)
    return dt.datetime.now(dt.timezone.utc).date()


def _in(col: str, ids: tuple[int, ...]) -> Column:
    return F.col(col).isin(list(ids))


def build_labels(visits: DataFrame, task: TaskSpec) -> DataFrame:
    """One label row per index visit of ``task``.

    ``index_date`` is when the prediction is made (discharge for readmission, admission for
    prolonged stay); ``label_available_date`` is the first date the label is final for either
    outcome (discharge + horizon for readmission; discharge or admission + horizon, whichever
    is first, for prolonged stay), so evaluation joins only labels that have arrived by its
    as-of date without favouring early positives.
    """
    spec = task.label
    idx = visits.where(
        _in("visit_concept_id", spec.index_visit_concept_ids) & F.col("visit_end_date").isNotNull()
    )
    idx = idx.select(
        F.col("person_id").cast("long").alias("person_id"),
        F.col("visit_occurrence_id").cast("long").alias("visit_occurrence_id"),
        F.col("visit_start_date").alias("start"),
        F.col("visit_end_date").alias("end"),
    )
    if spec.kind == "prolonged_stay":
        long_stay = F.datediff("end", "start") >= spec.horizon_days
        out = idx.select(
            "person_id",
            "visit_occurrence_id",
            F.col("start").alias("index_date"),
            long_stay.cast("int").alias("label"),
            F.when(long_stay, F.date_add("start", spec.horizon_days))
            .otherwise(F.col("end"))
            .alias("label_available_date"),
        )
    else:
        outcomes = visits.where(_in("visit_concept_id", spec.outcome_visit_concept_ids)).select(
            F.col("person_id").cast("long").alias("o_person"),
            F.col("visit_occurrence_id").cast("long").alias("o_visit"),
            F.col("visit_start_date").alias("o_start"),
        )
        horizon_end = F.date_add(F.col("end"), spec.horizon_days)
        joined = idx.join(
            outcomes,
            (F.col("o_person") == F.col("person_id"))
            & (F.col("o_visit") != F.col("visit_occurrence_id"))
            & (F.col("o_start") > F.col("end"))
            & (F.col("o_start") <= horizon_end),
            "left",
        )
        first = joined.groupBy("person_id", "visit_occurrence_id", "end").agg(
            F.min("o_start").alias("next_start")
        )
        out = first.select(
            "person_id",
            "visit_occurrence_id",
            F.col("end").alias("index_date"),
            F.col("next_start").isNotNull().cast("int").alias("label"),
            # Final for both outcomes only once the horizon has passed: using readmissions as soon
            # as they happen would over-represent positives among recent labelled cases.
            horizon_end.alias("label_available_date"),
        )
    return out.select(F.lit(task.name).alias("task"), "*").select(*LABELS_SPEC.columns)
