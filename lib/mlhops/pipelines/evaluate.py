"""Stage ``evaluate``: per-window performance, calibration, fairness, shift, concept drift,
label requests and triggers for every scored model version; auto-recalibration on triggers.

Triggers and label requests also read the drift detectors' results (``mlhops.drift_metrics``,
``mlhops.multivariate_drift``; see ``models.drift_evidence``), and open label requests are
closed (fulfilled, with the time to label, or expired).

A pending challenger is compared with the champion on the cases neither has seen, under the
declared rule of ``models.promotion``; the decision is recorded (``mlhops.promotion_decisions``)
and applied when allowed (``models.promotion.auto``; a clearly worse challenger is retired).

Options: ``as_of`` (labels known by then; default end of the window - 1 day, else today UTC) and
``trigger`` (``retrain`` / ``recalibrate``: an on-demand trigger on the champion's latest window).
Each labelled window with enough cases also gets its permutation-importance profile and rank
correlation with the version's training profile (``mlhops.model_importance``, ``models.explain``).
All writes MERGE on stable keys, so a re-run with the same labels changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import functions as F

from mlhops.errors import StageError
from mlhops.io import read_table, table_exists, table_version
from mlhops.io.tables.models import (
    FAIRNESS_DISPARITIES_SPEC, INFERENCE_LOG, LABEL_REQUESTS, LABEL_REQUESTS_SPEC, LABELS, MODEL_DRIFT_SPEC,
    MODEL_EVENTS_SPEC, MODEL_IMPORTANCE_SPEC, MODEL_TRIGGERS_SPEC, PERFORMANCE_METRICS_SPEC,
    PROMOTION_DECISIONS_SPEC,
)
from mlhops.models import challengers, comparison, explain, promotion, registry
from mlhops.models.assessment import assess, in_range, label_requests, log_windows
from mlhops.models.drift_evidence import load_hits
from mlhops.models.evaluation import WindowCases, load_windows
from mlhops.models.labels import label_cutoff
from mlhops.models.outputs import merge_rows
from mlhops.models.task import load_task
from mlhops.pipelines.context import Context
from mlhops.pipelines.options import EvaluateOptions
from mlhops.pipelines.stage import StageRequest, StageResult
from mlhops.tracking.datasets import EVALUATION, DeltaInput, log_delta_inputs

logger = logging.getLogger(__name__)
STAGE = "evaluate"
OUTPUTS = (PERFORMANCE_METRICS_SPEC, FAIRNESS_DISPARITIES_SPEC, MODEL_DRIFT_SPEC, MODEL_TRIGGERS_SPEC,
           LABEL_REQUESTS_SPEC)


def _existing_requests(ctx: Context, name: str) -> list[dict]:
    """The model's label requests on file (none before the first evaluation)."""
    if not table_exists(ctx.spark, ctx.catalog, LABEL_REQUESTS):
        return []
    df = read_table(ctx.spark, ctx.catalog, LABEL_REQUESTS).where(F.col("model_name") == name)
    return [r.asDict() for r in df.collect()]


def _importance_over_windows(ctx: Context, task: str, name: str, selected: Sequence[WindowCases],
                             models: Mapping[str, Any], as_of: dt.date) -> None:
    """Importance profile of each labelled window (enough cases) vs its version's training profile."""
    cfg = ctx.settings.models
    starts = sorted({w.window_start for w in selected if int(w.labelled.sum()) >= cfg.explain.min_window_cases})
    features = sorted({f for m in models.values() for f in m.features})
    if not starts or not features:
        return
    frames = explain.window_rows(ctx.spark, ctx.catalog, ctx.hasher, model_name=name, task=task, features=features,
                                 as_of=as_of, starts=starts)
    rows = explain.window_profiles(frames, models, explain.training_profiles(ctx.spark, ctx.catalog, name), cfg,
                                   model_name=name, as_of=as_of)
    merge_rows(ctx.spark, ctx.catalog, MODEL_IMPORTANCE_SPEC, rows)


def run(ctx: Context, req: StageRequest[EvaluateOptions]) -> StageResult:
    """Evaluate every scored window (metrics for the requested range are rewritten on change)."""
    spark, catalog, cfg, trigger = ctx.spark, ctx.catalog, ctx.settings.models, req.options.trigger
    task = load_task(ctx.settings)
    name = task.registered_model
    if not table_exists(spark, catalog, INFERENCE_LOG) or not table_exists(spark, catalog, LABELS):
        return StageResult(STAGE, "skipped", "nothing scored or no labels table yet")
    as_of = label_cutoff(req.options.as_of, req.end)
    windows = load_windows(spark, catalog, ctx.hasher, task=task.name, model_name=name,
                           attributes=cfg.fairness.attributes, as_of=as_of)
    selected = in_range(windows, req.start, req.end)
    champion = registry.alias_version(ctx.tracker, name, registry.CHAMPION)
    with ctx.tracker.run(STAGE, tags={"mlhops.run_id": req.run_id, "mlhops.model": name},
                         params={"labels_as_of": as_of.isoformat()}):
        hits = load_hits(spark, catalog, reference=cfg.triggers.drift_reference)
        a = assess(ctx.tracker, cfg, name, windows, selected, champion=champion, as_of=as_of, on_demand=trigger,
                   hits=hits)
        log_windows(ctx.tracker, a, req.run_id, STAGE, window_kind=cfg.window)
        log_delta_inputs(ctx.tracker, [DeltaInput(t, catalog.key(t), table_version(spark, catalog, t), catalog.by_name)
                                       for t in (INFERENCE_LOG, LABELS)], context=EVALUATION)
        requests = label_requests(a, windows, cfg, name, champion, as_of, hits=hits,
                                  existing=_existing_requests(ctx, name))
        for spec, rows in zip(OUTPUTS, (a.performance, a.fairness, a.drift, a.triggers, requests)):
            merge_rows(spark, catalog, spec, rows)
    if cfg.explain.enabled:
        _importance_over_windows(ctx, task.name, name, selected, a.models, as_of)
    details: dict[str, Any] = {"triggers": [(t["model_version"], str(t["window_start"]), t["kind"]) for t in a.triggers]}
    outcome = promotion.decide_pending(spark, catalog, ctx.hasher, ctx.tracker, cfg=cfg, task=task, as_of=as_of,
                                       run_id=req.run_id)
    decided = ""
    if outcome is not None:
        details["promotion"] = {"champion": outcome.champion, "challenger": outcome.challenger,
                                "decision": outcome.decision.decision, "applied": outcome.applied,
                                "cases": outcome.comparison.n}
        decided = f"; challenger v{outcome.challenger}: {outcome.decision.decision}" + (
            " (applied)" if outcome.applied else "")
        if outcome.applied and outcome.decision.decision == comparison.PROMOTE:
            champion = None  # the new champion's own windows are recalibrated on a later run
    window = challengers.triggered_window(a.triggers, windows, champion, cfg.triggers.min_recalibration_cases)
    if window is not None and champion is not None and (cfg.triggers.auto_recalibrate or trigger == "recalibrate"):
        try:
            recal = challengers.recalibrate_window(ctx.tracker, cfg, task.name, a.models[champion], window,
                                                   replace_pending=trigger == "recalibrate")
        except challengers.RecalibrationError as exc:
            raise StageError(STAGE, str(exc)) from None
        if recal is not None:
            details["recalibration"] = recal
    tables = {s.name: v for s in (*OUTPUTS, PROMOTION_DECISIONS_SPEC, MODEL_EVENTS_SPEC, MODEL_IMPORTANCE_SPEC)
              if (v := table_version(spark, catalog, s.name)) is not None}
    return StageResult(
        STAGE, "alerts" if a.triggers or a.flagged else "ok",
        f"evaluated {len(selected)} window(s); {len(a.triggers)} trigger(s); {a.flagged} flagged disparity(ies)"
        f"{decided}",
        metrics={"windows": float(len(selected)), "triggers": float(len(a.triggers)),
                 "flagged_disparities": float(a.flagged), "drift_flags_read": float(len(hits)),
                 "label_requests": float(sum(r["status"] == "open" for r in requests)),
                 "label_requests_closed": float(sum(r["status"] != "open" for r in requests))},
        tables=tables, details=details,
    )
