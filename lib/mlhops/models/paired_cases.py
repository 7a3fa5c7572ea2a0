"""The cases a champion / challenger comparison may use, from the inference log and the labels.

A case counts when both versions scored the visit, its label is known by ``as_of``, its person
is in the validation split of every training behind either version (the patient-level split
:func:`mlhops.models.training.validation_flag`; a recalibration inherits its parent's), and it
lies outside the window a recalibration was fitted on. So neither model has seen the case.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mlhops.hashing import KeyedHasher
from mlhops.io import Catalog, read_table
from mlhops.io.tables.models import INFERENCE_LOG, LABELS
from mlhops.models import registry
from mlhops.models.comparison import PairedCases
from mlhops.models.evaluation import known_labels, subgroup_columns
from mlhops.models.task import TaskSpec
from mlhops.models.training import validation_flag

if TYPE_CHECKING:
    from mlhops.tracking import Tracker

SPLIT_SEED_TAG = "mlhops.split_seed"
VALIDATION_FRACTION_TAG = "mlhops.validation_fraction"
PARENT_TAG = "mlhops.parent_version"
RECALIBRATION_WINDOW_TAG = "mlhops.recalibration_window"


@dataclass(frozen=True)
class HeldOut:
    """What one version's training saw: its split and, for a recalibration, the fitted window's start."""

    splits: tuple[tuple[int, float], ...]
    excluded_window_starts: tuple[dt.date, ...]


def held_out(tracker: Tracker, name: str, version: str, task: TaskSpec) -> HeldOut:
    """The split(s) and fitted window(s) behind ``version``, following recalibrations to their base.

    A version trained before the split was tagged uses the task's current split.
    """
    splits: list[tuple[int, float]] = []
    windows: list[dt.date] = []
    seen: set[str] = set()
    current: str | None = version
    while current and current not in seen:
        seen.add(current)
        tags = registry.version_tags(tracker, name, current)
        if RECALIBRATION_WINDOW_TAG in tags:
            windows.append(dt.date.fromisoformat(tags[RECALIBRATION_WINDOW_TAG].split("/")[0]))
        if PARENT_TAG in tags and tags[PARENT_TAG]:
            current = tags[PARENT_TAG]
            continue
        splits.append((int(tags.get(SPLIT_SEED_TAG, task.split_seed)),
                       float(tags.get(VALIDATION_FRACTION_TAG, task.validation_fraction))))
        current = None
    return HeldOut(tuple(splits), tuple(windows))


def load_paired(spark: SparkSession, catalog: Catalog, hasher: KeyedHasher, *, task: TaskSpec, name: str,
                champion: str, challenger: str, held: Sequence[HeldOut], as_of: dt.date,
                attributes: Sequence[str]) -> PairedCases:
    """The labelled visits both versions scored that neither training saw (see the module docstring).

    Args:
        spark: the session.
        catalog: the table catalog (reads the inference log and the labels).
        hasher: the keyed hasher the inference log was written with.
        task: the task whose labels to join.
        name: the registered model.
        champion, challenger: the two versions.
        held: :func:`held_out` of both versions.
        as_of: the label cut-off.
        attributes: fairness attributes to collect.
    """
    log = read_table(spark, catalog, INFERENCE_LOG).where(F.col("model_name") == name)
    a = log.where(F.col("model_version") == champion).select(
        "visit_hash", "person_hash", "window_start", F.col("score").alias("p_a"), F.col("decision").alias("d_a"),
        *subgroup_columns(attributes))
    b = log.where(F.col("model_version") == challenger).select(
        "visit_hash", F.col("score").alias("p_b"), F.col("decision").alias("d_b"))
    keep = F.lit(True)
    for h in held:
        for seed, fraction in h.splits:
            keep = keep & validation_flag(seed, fraction)
    labels = known_labels(read_table(spark, catalog, LABELS), task=task.name, hasher=hasher, as_of=as_of,
                          keep=keep).select("visit_hash", "label")
    excluded = [d for h in held for d in h.excluded_window_starts]
    joined = a.join(b, "visit_hash").join(labels, "visit_hash")
    if excluded:
        joined = joined.where(~F.col("window_start").isin(*excluded))
    pdf = joined.orderBy("visit_hash").toPandas()
    return PairedCases(
        labels=pdf["label"].to_numpy(np.int64), champion_scores=pdf["p_a"].to_numpy(np.float64),
        challenger_scores=pdf["p_b"].to_numpy(np.float64), champion_decisions=pdf["d_a"].to_numpy(np.int64),
        challenger_decisions=pdf["d_b"].to_numpy(np.int64), persons=pdf["person_hash"].astype(str).to_numpy(),
        windows=int(pdf["window_start"].nunique()),
        subgroups={x: pdf[f"sg_{x}"].astype(str).to_numpy() for x in attributes},
    )
