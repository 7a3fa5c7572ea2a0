"""When a model is (re)trained, how a trained model is registered, explicit promote / rollback.

Recalibration challengers live in :mod:`mlhops.models.challengers`.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mlhops.io import Catalog, read_table, table_exists
from mlhops.io.tables.models import MODEL_TRIGGERS
from mlhops.models import registry
from mlhops.models.task import TaskSpec
from mlhops.models.training import TrainedModel

if TYPE_CHECKING:
    from mlhops.tracking import Tracker

logger = logging.getLogger(__name__)


def retrain_requested(spark: SparkSession, catalog: Catalog, tracker: Tracker, name: str, champion: str) -> bool:
    """A ``retrain`` trigger exists for the champion and no challenger awaits a decision.

    Args:
        spark: the session.
        catalog: the table catalog (reads ``mlhops.model_triggers``).
        tracker: the MLflow tracker (registry aliases).
        name: the registered model.
        champion: the champion's version.
    """
    if not table_exists(spark, catalog, MODEL_TRIGGERS):
        return False
    if registry.alias_version(tracker, name, registry.CHALLENGER) is not None:
        return False
    t = read_table(spark, catalog, MODEL_TRIGGERS)
    return t.where((F.col("model_name") == name) & (F.col("model_version") == champion)
                   & (F.col("action") == "retrain")).limit(1).count() > 0


@dataclass(frozen=True)
class TrainingLineage:
    """What a trained version was trained on (tags and params of its MLflow run)."""

    features_table_version: int | None
    labels_table_version: int | None
    labels_as_of: dt.date
    run_id: str


def register_trained(
    tracker: Tracker, task: TaskSpec, trained: TrainedModel, example: pd.DataFrame, lineage: TrainingLineage,
    *, alias: str, run_name: str,
) -> tuple[str, str]:
    """Register a freshly trained model with its lineage tags, metrics and params.

    Args:
        tracker: the MLflow tracker.
        task: the task the model was trained for.
        trained: the fitted model, its threshold, metrics and profile.
        example: training rows (the signature is inferred from their first five).
        lineage: the training data versions and label cut-off.
        alias: ``champion`` (first model) or ``challenger``.
        run_name: the MLflow run's name (the stage).

    Returns:
        ``(version, mlflow_run_id)``.
    """
    as_of = lineage.labels_as_of.isoformat()
    tags = {
        "mlhops.task": task.name,
        "mlhops.kind": "training",
        "mlhops.features_table_version": str(lineage.features_table_version),
        "mlhops.labels_table_version": str(lineage.labels_table_version),
        "mlhops.labels_as_of": as_of,
        "mlhops.run_id": lineage.run_id,
        # The patient-level split, so a later comparison uses only persons this training held out.
        "mlhops.split_seed": str(task.split_seed),
        "mlhops.validation_fraction": str(task.validation_fraction),
    }
    return registry.register(
        tracker, name=task.registered_model, model=trained.model, features=trained.features,
        profile=trained.profile, example=example[list(trained.features)].head(5),
        metrics={**trained.metrics, "threshold": trained.threshold, "n_train": trained.n_train,
                 "n_validation": trained.n_validation},
        params={"task": task.name, "algorithm": task.algorithm, "n_features": len(trained.features),
                "validation_fraction": task.validation_fraction, "split_seed": task.split_seed,
                "target_sensitivity": task.target_sensitivity, "labels_as_of": as_of,
                "features_table_version": lineage.features_table_version,
                "labels_table_version": lineage.labels_table_version},
        tags=tags, alias=alias, run_name=run_name,
    )


@dataclass(frozen=True)
class AliasChange:
    """One explicit promote or rollback."""

    action: str
    from_version: str | None
    to_version: str


def promote(tracker: Tracker, name: str, version: str | None = None) -> AliasChange:
    """Make ``version`` (default: the challenger) the champion.

    The replaced champion becomes ``previous_champion``.

    Raises:
        RegistryError: no challenger and no version given, or the version does not exist.
    """
    target = version or registry.alias_version(tracker, name, registry.CHALLENGER)
    if target is None:
        raise registry.RegistryError(f"model {name}: no challenger to promote and no version given")
    registry.load(tracker, name, target)  # fails clearly when the version does not exist
    current = registry.alias_version(tracker, name, registry.CHAMPION)
    if current == target:
        return AliasChange("promote", current, target)
    # previous_champion first: killed between the two moves, the registry still has a champion
    # and the version to roll back to (a re-run completes the promotion).
    if current is not None:
        registry.move_alias(tracker, name, registry.PREVIOUS_CHAMPION, current)
    registry.move_alias(tracker, name, registry.CHAMPION, target)
    if registry.alias_version(tracker, name, registry.CHALLENGER) == target:
        registry.drop_alias(tracker, name, registry.CHALLENGER)
    registry.tag_version(tracker, name, target, "mlhops.promoted_from", current or "")
    logger.info("promoted %s version %s to champion (was %s)", name, target, current)
    return AliasChange("promote", current, target)


def rollback(tracker: Tracker, name: str, version: str | None = None) -> AliasChange:
    """Point the champion back at ``version`` (default: ``previous_champion``).

    Raises:
        RegistryError: nothing to roll back to.
    """
    target = version or registry.alias_version(tracker, name, registry.PREVIOUS_CHAMPION)
    if target is None:
        raise registry.RegistryError(
            f"model {name}: no previous champion to roll back to and no version given"
        )
    registry.load(tracker, name, target)
    current = registry.alias_version(tracker, name, registry.CHAMPION)
    registry.move_alias(tracker, name, registry.CHAMPION, target)
    registry.drop_alias(tracker, name, registry.PREVIOUS_CHAMPION)
    if current is not None and current != target:
        registry.tag_version(tracker, name, current, "mlhops.rolled_back", "true")
    logger.info("rolled %s back from version %s to %s", name, current, target)
    return AliasChange("rollback", current, target)
