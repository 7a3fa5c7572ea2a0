"""Stage ``evaluate``: per-window performance, calibration, fairness, shift, concept drift,
label requests and triggers for every scored model version; auto-recalibration on triggers.

``params.extra``: ``as_of`` (ISO date; labels known by then, default ``params.end`` - 1 day or
today UTC) and ``trigger`` (``retrain`` / ``recalibrate``: an on-demand trigger on the latest
window). All writes MERGE on stable keys, so a re-run with the same labels changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mlhops.config.loader import resolve_salt
from mlhops.config.model import Settings
from mlhops.errors import StageError
from mlhops.io import Catalog, merge_into, read_table, table_exists, table_version
from mlhops.models import registry
from mlhops.models.evaluation import WindowCases, collect_windows, concept_drift, evaluate_window, join_labels
from mlhops.models.label_policy import WindowStatus, plan_label_requests
from mlhops.models.labels import LABELS_TABLE
from mlhops.models.lifecycle import recalibrate
from mlhops.models.tables import (
    FAIRNESS, FAIRNESS_KEYS, FAIRNESS_SCHEMA, INFERENCE_LOG, LABEL_REQUESTS, LABEL_REQUESTS_KEYS,
    LABEL_REQUESTS_SCHEMA, MODEL_DRIFT, MODEL_DRIFT_KEYS, MODEL_DRIFT_SCHEMA, MODEL_TRIGGERS,
    MODEL_TRIGGERS_KEYS, MODEL_TRIGGERS_SCHEMA, PERFORMANCE_KEYS, PERFORMANCE_METRICS, PERFORMANCE_SCHEMA,
)
from mlhops.models.task import load_task
from mlhops.models.triggers import WindowSignals, evaluate_triggers
from mlhops.pipelines.base import StageParams, StageResult
from mlhops.pipelines.train import as_of_date
from mlhops.tracking import mlflow_run

logger = logging.getLogger(__name__)
STAGE = "evaluate"
RECALIBRATION_KINDS = ("calibration", "concept_drift", "on_demand")


def _write(
    spark: SparkSession, catalog: Catalog, rows: list[dict], schema: str, name: str, keys: tuple[str, ...]
) -> None:
    """MERGE rows into a table (created, possibly empty, on first run so readers always find it)."""
    if not rows and table_exists(spark, catalog, name):
        return
    cols = [c.split()[0] for c in schema.split(", ")]
    clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows]
    df = spark.createDataFrame([tuple(r[c] for c in cols) for r in clean], schema)
    merge_into(df, catalog, name, list(keys))


def _log_window(settings: Settings, w: WindowCases, rows: list[dict], params: StageParams) -> None:
    import mlflow

    tags = {"mlhops.model": w.model_name, "mlhops.model_version": w.model_version,
            "mlhops.window_start": w.window_start.isoformat(), "mlhops.window_end": w.window_end.isoformat(),
            "mlhops.run_id": params.run_id}
    metrics = {f"{r['method']}_{r['metric']}": r["estimate"] for r in rows if r["attribute"] == "all"}
    with mlflow_run(settings, f"{STAGE}-{w.window_start.isoformat()}", tags=tags, nested=True):
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})


def _window_frames(spark: SparkSession, settings: Settings, task_name: str, name: str,
                   as_of: dt.date) -> list[WindowCases]:
    catalog = Catalog(settings.warehouse)
    log = read_table(spark, catalog, INFERENCE_LOG).where(F.col("model_name") == name)
    labels = read_table(spark, catalog, LABELS_TABLE)
    joined = join_labels(log, labels, task=task_name, salt=resolve_salt(settings), as_of=as_of)
    return collect_windows(joined, settings.models.fairness.attributes)


def run(spark: SparkSession, settings: Settings, params: StageParams) -> StageResult:
    """Evaluate every scored window (metrics for the requested range are rewritten on change)."""
    cfg = settings.models
    catalog = Catalog(settings.warehouse)
    task = load_task(settings)
    name = task.registered_model
    if not table_exists(spark, catalog, INFERENCE_LOG) or not table_exists(spark, catalog, LABELS_TABLE):
        return StageResult(STAGE, "skipped", "nothing scored or no labels table yet")
    as_of = as_of_date(params)
    windows = _window_frames(spark, settings, task.name, name, as_of)
    in_range = [w for w in windows if (params.start is None or w.window_start >= params.start)
                and (params.end is None or w.window_start < params.end)]
    champion = registry.alias_version(settings, name, registry.CHAMPION)
    perf: list[dict] = []
    fair: list[dict] = []
    drift: list[dict] = []
    triggers: list[dict] = []
    signals: dict[tuple[str, dt.date], Any] = {}
    profiles: dict[str, registry.LoadedModel] = {}
    with mlflow_run(settings, STAGE, tags={"mlhops.run_id": params.run_id, "mlhops.model": name},
                    params={"labels_as_of": as_of.isoformat()}):
        for version in sorted({w.model_version for w in windows}):
            loaded = profiles.setdefault(version, registry.load(settings, name, version))
            own = [w for w in windows if w.model_version == version]
            drift_rows, alarms = concept_drift(own, loaded.profile, cfg, as_of)
            drift += [r for r in drift_rows if any(r["window_start"] == w.window_start for w in in_range)]
            created = dt.datetime.fromtimestamp(registry.version_created(settings, name, version) / 1000,
                                                tz=dt.timezone.utc).date()
            for w in own:
                if w not in in_range:
                    continue
                ev = evaluate_window(w, loaded.profile, cfg, as_of)
                perf += ev.performance
                fair += ev.fairness
                drift += ev.drift
                signals[(version, w.window_start)] = ev
                _log_window(settings, w, ev.performance, params)
                sig = WindowSignals(w.window_start, w.window_end, ev.realized_auroc, ev.realized_ece, ev.psi,
                                    alarms.get(w.window_start, 0), (w.window_end - created).days)
                latest = w is own[-1]
                demand = params.extra.get("trigger") if latest and version == champion else None
                for t in evaluate_triggers(sig, cfg.triggers, on_demand=demand):
                    triggers.append({"model_name": name, "model_version": version,
                                     "window_start": t.window_start,
                                     "window_end": t.window_end, "kind": t.kind, "action": t.action,
                                     "reason": t.reason, "labels_as_of": as_of})
        _write(spark, catalog, perf, PERFORMANCE_SCHEMA, PERFORMANCE_METRICS, PERFORMANCE_KEYS)
        _write(spark, catalog, fair, FAIRNESS_SCHEMA, FAIRNESS, FAIRNESS_KEYS)
        _write(spark, catalog, drift, MODEL_DRIFT_SCHEMA, MODEL_DRIFT, MODEL_DRIFT_KEYS)
        _write(spark, catalog, triggers, MODEL_TRIGGERS_SCHEMA, MODEL_TRIGGERS, MODEL_TRIGGERS_KEYS)
        requests = _plan_requests(windows, champion, profiles, cfg, name, as_of)
        _write(spark, catalog, requests, LABEL_REQUESTS_SCHEMA, LABEL_REQUESTS, LABEL_REQUESTS_KEYS)
    details: dict[str, Any] = {
        "triggers": [(t["model_version"], str(t["window_start"]), t["kind"]) for t in triggers]
    }
    fired = [t for t in triggers if t["model_version"] == champion and t["action"] == "recalibrate"
             and t["kind"] in RECALIBRATION_KINDS]
    if fired and (cfg.triggers.auto_recalibrate or params.extra.get("trigger") == "recalibrate"):
        # Fit on the most recent triggered window with enough labels; calibration triggers first.
        by_start = {w.window_start: w for w in windows if w.model_version == champion}
        ranked = sorted(fired, key=lambda t: (t["kind"] == "calibration", t["window_start"]), reverse=True)
        enough = [by_start[t["window_start"]] for t in ranked
                  if int(by_start[t["window_start"]].labelled.sum()) >= cfg.triggers.min_recalibration_cases]
        if enough:
            recal = _recalibrate_window(settings, task.name, profiles[champion], enough[0],
                                        replace_pending=params.extra.get("trigger") == "recalibrate")
            if recal is not None:
                details["recalibration"] = recal
    tables = {t: v for t in (PERFORMANCE_METRICS, FAIRNESS, MODEL_DRIFT, MODEL_TRIGGERS, LABEL_REQUESTS)
              if (v := table_version(spark, catalog, t)) is not None}
    flagged = sum(1 for r in fair if r["flagged"])
    return StageResult(
        STAGE, "alerts" if triggers or flagged else "ok",
        f"evaluated {len(in_range)} window(s); {len(triggers)} trigger(s); {flagged} flagged disparity(ies)",
        metrics={"windows": float(len(in_range)), "triggers": float(len(triggers)),
                 "flagged_disparities": float(flagged),
                 "label_requests": float(len(requests))},
        tables=tables, details=details,
    )


def _plan_requests(windows: list[WindowCases], champion: str | None,
                   profiles: dict[str, registry.LoadedModel],
                   cfg: Any, name: str, as_of: dt.date) -> list[dict]:
    if champion is None or champion not in profiles:
        return []
    from mlhops.models.cbpe import cbpe_estimates
    from mlhops.models.reference import score_psi

    profile = profiles[champion].profile
    history = []
    for w in (w for w in windows if w.model_version == champion):
        est = cbpe_estimates(w.scores, profile.calibrator, profile.threshold, replicates=20,
                             seed=cfg.bootstrap.seed)
        history.append(WindowStatus(w.window_start, w.window_end, int(w.scores.size), int(w.labelled.sum()),
                                    est["auroc"].estimate, score_psi(profile, w.scores)))
    return [{"model_name": name, "model_version": champion, "window_start": r.window_start,
             "window_end": r.window_end, "policy": r.policy, "reason": r.reason, "n_requested": r.n_requested,
             "priority": r.priority, "status": "open", "planned_as_of": as_of}
            for r in plan_label_requests(history, cfg.label_policy, profile.auroc)]


def _recalibrate_window(settings: Settings, task: str, champion: registry.LoadedModel,
                        w: WindowCases, *, replace_pending: bool = False) -> dict[str, Any] | None:
    """Register a recalibration of the champion fitted on window ``w`` as challenger.

    One pending challenger per champion: while a recalibration of this champion awaits a
    promote decision, later triggers do not replace it (unless ``replace_pending``, for an
    on-demand request on a different window).
    """
    cfg = settings.models.triggers
    existing = registry.alias_version(settings, champion.name, registry.CHALLENGER)
    window_tag = f"{w.window_start.isoformat()}/{w.window_end.isoformat()}"
    if existing is not None:
        from mlflow import MlflowClient

        tags = MlflowClient().get_model_version(champion.name, existing).tags
        if tags.get("mlhops.parent_version") == champion.version and (
            not replace_pending or tags.get("mlhops.recalibration_window") == window_tag
        ):
            return None
    m = w.labelled
    if int(m.sum()) < cfg.min_recalibration_cases:
        logger.info("recalibration skipped: %d labelled cases < %d", int(m.sum()),
                    cfg.min_recalibration_cases)
        return None
    try:
        r = recalibrate(settings, champion, w.labels[m], w.scores[m], method=cfg.recalibration_method,
                        window_start=w.window_start, window_end=w.window_end, task=task)
    except ValueError as exc:
        raise StageError(STAGE, f"recalibration on window {w.window_start}: {exc}") from None
    return {"version": r.version, "parent_version": r.parent_version, "method": r.method,
            "champion": r.champion, "challenger": r.challenger}


def recalibrate_latest(spark: SparkSession, settings: Settings, params: StageParams) -> StageResult:
    """On-demand recalibration of the champion on its latest labelled window.

    Called by ``train`` with ``mode=recalibrate``.
    """
    task = load_task(settings)
    name = task.registered_model
    champion = registry.alias_version(settings, name, registry.CHAMPION)
    if champion is None:
        return StageResult("train", "skipped", "no champion to recalibrate")
    windows = [w for w in _window_frames(spark, settings, task.name, name, as_of_date(params))
               if w.model_version == champion
               and w.labelled.sum() >= settings.models.triggers.min_recalibration_cases]
    if not windows:
        return StageResult("train", "skipped", "no champion window with enough labels to recalibrate on")
    result = _recalibrate_window(settings, task.name, registry.load(settings, name, champion), windows[-1],
                                 replace_pending=True)
    if result is None:
        return StageResult("train", "skipped", "latest window's recalibration is already the challenger")
    return StageResult("train", "ok", f"registered recalibration version {result['version']} as challenger",
                       details=result)

