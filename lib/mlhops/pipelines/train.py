"""Stage ``train``: labels from OMOP, then (when needed) train + register the reference model.

A model is trained when none is registered, with ``--force``, or when an evaluation left a
``retrain`` trigger for the champion and no challenger is awaiting a promote decision (the new
model becomes the challenger; the first one the champion). ``mode=recalibrate`` instead fits a
recalibration of the champion on its latest labelled window and registers it as challenger.
A newly trained version also gets its global importance and membership-inference check
(``mlhops.model_importance``, ``mlhops.model_privacy``, its MLflow run and registry tags).
"""

from __future__ import annotations

import datetime as dt
import logging

import pandas as pd
from pyspark.sql import functions as F

from mlhops.errors import InsufficientDataError, StageError
from mlhops.features.spec import FeatureSpec, load_feature_specs
from mlhops.io import merge_into, read_table, table_version
from mlhops.io.tables.etl import VISIT_OCCURRENCE
from mlhops.io.tables.models import LABELS, LABELS_SPEC, MODEL_IMPORTANCE_SPEC, MODEL_PRIVACY_SPEC
from mlhops.io.tables.monitoring import FEATURES
from mlhops.models import challengers, explain, lifecycle, privacy, registry
from mlhops.models.evaluation import load_windows
from mlhops.models.labels import build_labels, label_cutoff
from mlhops.models.outputs import merge_rows
from mlhops.models.task import TaskSpec, load_task
from mlhops.models.training import TrainedModel, fit, model_features, training_frame
from mlhops.pipelines.context import Context
from mlhops.pipelines.options import TrainOptions
from mlhops.pipelines.stage import StageRequest, StageResult
from mlhops.tracking.datasets import TRAINING, DeltaInput, log_delta_inputs

logger = logging.getLogger(__name__)
STAGE = "train"


def run(ctx: Context, req: StageRequest[TrainOptions]) -> StageResult:
    """Refresh labels, then train and register when needed (or recalibrate in ``mode=recalibrate``)."""
    task = load_task(ctx.settings)
    if req.options.mode == "recalibrate":
        return _recalibrate(ctx, req, task)
    labels = build_labels(read_table(ctx.spark, ctx.catalog, VISIT_OCCURRENCE), task)
    merge_into(labels, ctx.catalog, LABELS, list(LABELS_SPEC.keys))
    labels_version = table_version(ctx.spark, ctx.catalog, LABELS)
    tables = {LABELS: labels_version or 0}
    champion = registry.alias_version(ctx.tracker, task.registered_model, registry.CHAMPION)
    if champion is not None and not req.force and not lifecycle.retrain_requested(
        ctx.spark, ctx.catalog, ctx.tracker, task.registered_model, champion
    ):
        return StageResult(STAGE, "skipped", f"champion version {champion} in place; no retrain trigger", tables=tables)
    as_of = label_cutoff(req.options.as_of, req.end)
    specs = model_features(load_feature_specs(ctx.settings), task)
    features_version = table_version(ctx.spark, ctx.catalog, FEATURES)
    frame = training_frame(read_table(ctx.spark, ctx.catalog, FEATURES, version=features_version),
                           read_table(ctx.spark, ctx.catalog, LABELS, version=labels_version), specs, task,
                           F.lit(as_of))
    # A stable row order before the cap: which visits are trained on, and the order the seeded
    # importance permutations and bootstrap see them in, must not depend on how Spark partitioned
    # the frame (another shuffle setting, a cluster, a Connect server gave other rows).
    pdf = frame.orderBy("visit_occurrence_id").limit(task.max_training_rows).toPandas()
    try:
        trained = fit(pdf, specs, task, ece_bins=ctx.settings.models.ece_bins)
    except InsufficientDataError as exc:
        # Not a pipeline failure: the labelled history is too small. Nothing is registered and
        # the current champion (if any) stays; score/evaluate report that no model is available.
        return StageResult(STAGE, "skipped", f"not enough labelled data to train: {exc}",
                           metrics={"training_rows": float(len(pdf))}, tables=tables)
    alias = registry.CHAMPION if champion is None else registry.CHALLENGER
    lineage = lifecycle.TrainingLineage(features_version, labels_version, as_of, req.run_id)
    version, run_id = lifecycle.register_trained(ctx.tracker, task, trained, pdf, lineage, alias=alias, run_name=STAGE)
    log_delta_inputs(ctx.tracker, [DeltaInput(t, ctx.catalog.key(t), v, ctx.catalog.by_name) for t, v in
                                   ((FEATURES, features_version), (LABELS, labels_version))],
                     context=TRAINING, run_id=run_id)
    checks = _explain_and_check(ctx, task, trained, pdf, specs, version, run_id, as_of)
    tables |= {s.name: v for s in (MODEL_IMPORTANCE_SPEC, MODEL_PRIVACY_SPEC)
               if (v := table_version(ctx.spark, ctx.catalog, s.name)) is not None}
    return StageResult(
        STAGE, "ok", f"registered {task.registered_model} version {version} as {alias}",
        metrics={k: float(v) for k, v in trained.metrics.items() if v == v} | {"n_train": float(trained.n_train)}
        | checks,
        tables=tables,
        details={"model": task.registered_model, "version": version, "alias": alias, "mlflow_run_id": run_id},
    )


def _explain_and_check(ctx: Context, task: TaskSpec, trained: TrainedModel, pdf: pd.DataFrame,
                       specs: list[FeatureSpec], version: str, run_id: str, as_of: dt.date) -> dict[str, float]:
    """Global importance on the validation persons and the membership-inference check of a new
    version: tables ``mlhops.model_importance`` / ``mlhops.model_privacy``, its MLflow run and tags."""
    cfg, name = ctx.settings.models, task.registered_model
    bs, now = cfg.bootstrap, dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    out: dict[str, float] = {}
    if cfg.explain.enabled:
        val = explain.sample(pdf[pdf["is_validation"]], cfg.explain.max_rows, bs.seed)
        found = explain.permutation_importance(trained.model, val, val["label"].to_numpy(), trained.features,
                                               repeats=cfg.explain.repeats, seed=bs.seed, confidence=bs.confidence)
        merge_rows(ctx.spark, ctx.catalog, MODEL_IMPORTANCE_SPEC, explain.importance_rows(
            name, version, explain.TRAINING, found, n=len(val), repeats=cfg.explain.repeats, labels_as_of=as_of))
        explain.log_training(ctx.tracker, name, version, run_id, found,
                             explain.reference_values(pdf[~pdf["is_validation"]], specs))
        out["importance_top"] = float(found[0].importance) if found else float("nan")
    if cfg.privacy.enabled:
        mi = privacy.check_model(trained.model, pdf, trained.features, max_auroc=cfg.privacy.max_attack_auroc,
                                 replicates=cfg.privacy.replicates, confidence=bs.confidence, seed=bs.seed)
        merge_rows(ctx.spark, ctx.catalog, MODEL_PRIVACY_SPEC, [privacy.privacy_row(name, version, mi, now)])
        client = ctx.tracker.client()
        client.log_metric(run_id, "membership_auroc", mi.auroc)
        client.log_metric(run_id, "membership_auroc_lower", mi.ci_lower)
        client.log_metric(run_id, "membership_auroc_upper", mi.ci_upper)
        registry.tag_version(ctx.tracker, name, version, "mlhops.membership_auroc", f"{mi.auroc:.4f}")
        registry.tag_version(ctx.tracker, name, version, "mlhops.membership_verdict", mi.verdict)
        if mi.verdict == privacy.FAIL:
            logger.warning("%s v%s: membership attack AUROC %.3f above %.3f", name, version, mi.auroc, mi.max_auroc)
        out["membership_auroc"] = mi.auroc
    return out


def _recalibrate(ctx: Context, req: StageRequest[TrainOptions], task: TaskSpec) -> StageResult:
    """On-demand recalibration of the champion on its latest labelled window."""
    cfg, name = ctx.settings.models, task.registered_model
    champion = registry.alias_version(ctx.tracker, name, registry.CHAMPION)
    if champion is None:
        return StageResult(STAGE, "skipped", "no champion to recalibrate")
    windows = load_windows(ctx.spark, ctx.catalog, ctx.hasher, task=task.name, model_name=name,
                           attributes=cfg.fairness.attributes, as_of=label_cutoff(req.options.as_of, req.end))
    window = challengers.latest_labelled_window(windows, champion, cfg.triggers.min_recalibration_cases)
    if window is None:
        return StageResult(STAGE, "skipped", "no champion window with enough labels to recalibrate on")
    try:
        result = challengers.recalibrate_window(ctx.tracker, cfg, task.name, registry.load(ctx.tracker, name, champion),
                                                window, replace_pending=True)
    except challengers.RecalibrationError as exc:
        raise StageError(STAGE, str(exc)) from None
    if result is None:
        return StageResult(STAGE, "skipped", "latest window's recalibration is already the challenger")
    return StageResult(STAGE, "ok", f"registered recalibration version {result['version']} as challenger",
                       details=result)
