"""Stage ``train``: labels from OMOP, then (when needed) train + register the reference model.

``params.extra``: ``mode`` = ``train`` (default) or ``recalibrate`` (fit a recalibration of the
champion on the latest labelled window and register it as challenger), ``as_of`` (ISO date:
labels known by then; default ``params.end`` - 1 day, else today UTC).
A model is trained when none is registered, with ``--force``, or when an evaluation left a
``retrain`` trigger for the champion and no challenger is awaiting a promote decision (the new
model becomes the challenger; the first one the champion).
"""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mlhops.config.model import Settings
from mlhops.errors import InsufficientDataError
from mlhops.features.spec import load_feature_specs
from mlhops.io import Catalog, merge_into, read_table, table_exists, table_version
from mlhops.models import registry
from mlhops.models.labels import LABELS_KEYS, LABELS_TABLE, build_labels
from mlhops.models.tables import MODEL_TRIGGERS
from mlhops.models.task import load_task
from mlhops.models.training import fit, model_features, training_frame
from mlhops.pipelines.base import StageParams, StageResult

logger = logging.getLogger(__name__)
STAGE = "train"
FEATURES_TABLE = "mlhops.features"


def as_of_date(params: StageParams) -> dt.date:
    """Label cut-off of a model-lifecycle stage run (see module docstrings)."""
    if params.extra.get("as_of"):
        return dt.date.fromisoformat(str(params.extra["as_of"]))
    if params.end is not None:
        return params.end - dt.timedelta(days=1)
    return dt.datetime.now(dt.timezone.utc).date()


def refresh_labels(spark: SparkSession, settings: Settings, task_name: str | None = None) -> int | None:
    """Rebuild the task's labels from ``omop.visit_occurrence`` (MERGE on task + visit)."""
    catalog = Catalog(settings.warehouse)
    task = load_task(settings, task_name)
    labels = build_labels(read_table(spark, catalog, "omop.visit_occurrence"), task)
    merge_into(labels, catalog, LABELS_TABLE, list(LABELS_KEYS))
    return table_version(spark, catalog, LABELS_TABLE)


def _retrain_requested(spark: SparkSession, catalog: Catalog, settings: Settings, name: str,
                       champion: str) -> bool:
    """A ``retrain`` trigger exists for the champion and no challenger awaits a decision."""
    if not table_exists(spark, catalog, MODEL_TRIGGERS):
        return False
    if registry.alias_version(settings, name, registry.CHALLENGER) is not None:
        return False
    t = read_table(spark, catalog, MODEL_TRIGGERS)
    return t.where((F.col("model_name") == name) & (F.col("model_version") == champion)
                   & (F.col("action") == "retrain")).limit(1).count() > 0


def run(spark: SparkSession, settings: Settings, params: StageParams) -> StageResult:
    """Refresh labels, then train and register when needed (or recalibrate in ``mode=recalibrate``)."""
    if params.extra.get("mode") == "recalibrate":
        from mlhops.pipelines.evaluate import recalibrate_latest

        return recalibrate_latest(spark, settings, params)
    catalog = Catalog(settings.warehouse)
    task = load_task(settings)
    labels_version = refresh_labels(spark, settings)
    champion = registry.alias_version(settings, task.registered_model, registry.CHAMPION)
    if champion is not None and not params.force and not _retrain_requested(
        spark, catalog, settings, task.registered_model, champion
    ):
        return StageResult(STAGE, "skipped", f"champion version {champion} in place; no retrain trigger",
                           tables={LABELS_TABLE: labels_version or 0})
    as_of = as_of_date(params)
    specs = model_features(load_feature_specs(settings), task)
    features_version = table_version(spark, catalog, FEATURES_TABLE)
    frame = training_frame(read_table(spark, catalog, FEATURES_TABLE, version=features_version),
                           read_table(spark, catalog, LABELS_TABLE, version=labels_version), specs, task,
                           F.lit(as_of))
    pdf = frame.limit(task.max_training_rows).toPandas()
    try:
        trained = fit(pdf, specs, task, ece_bins=settings.models.ece_bins)
    except InsufficientDataError as exc:
        # Not a pipeline failure: the labelled history is too small. Nothing is registered and
        # the current champion (if any) stays; score/evaluate report that no model is available.
        return StageResult(STAGE, "skipped", f"not enough labelled data to train: {exc}",
                           metrics={"training_rows": float(len(pdf))}, tables={LABELS_TABLE: labels_version or 0})
    alias = registry.CHAMPION if champion is None else registry.CHALLENGER
    tags = {
        "mlhops.task": task.name,
        "mlhops.kind": "training",
        "mlhops.features_table_version": str(features_version),
        "mlhops.labels_table_version": str(labels_version),
        "mlhops.labels_as_of": as_of.isoformat(),
        "mlhops.run_id": params.run_id,
    }
    version, run_id = registry.register(
        settings, name=task.registered_model, model=trained.model, features=trained.features,
        profile=trained.profile, example=pdf[list(trained.features)].head(5),
        metrics={**trained.metrics, "threshold": trained.threshold, "n_train": trained.n_train,
                 "n_validation": trained.n_validation},
        params={"task": task.name, "algorithm": task.algorithm, "n_features": len(trained.features),
                "validation_fraction": task.validation_fraction, "split_seed": task.split_seed,
                "target_sensitivity": task.target_sensitivity, "labels_as_of": as_of.isoformat(),
                "features_table_version": features_version, "labels_table_version": labels_version},
        tags=tags, alias=alias, run_name=STAGE,
    )
    return StageResult(
        STAGE, "ok", f"registered {task.registered_model} version {version} as {alias}",
        metrics={k: float(v) for k, v in trained.metrics.items() if v == v}
        | {"n_train": float(trained.n_train)},
        tables={LABELS_TABLE: labels_version or 0},
        details={"model": task.registered_model, "version": version, "alias": alias, "mlflow_run_id": run_id},
    )
