"""Retraining and recalibration triggers: periodic, performance, calibration, score PSI, data drift
from the drift detectors (univariate and multivariate, when a large-enough shift persists),
concept drift, on demand. Each trigger carries why it fired (detector, feature, windows, effect)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Literal

from mlhops.config.stages import ModelTriggerSettings
from mlhops.models.drift_evidence import MULTIVARIATE, PersistentShift

Action = Literal["retrain", "recalibrate"]
TRIGGER_KINDS = ("periodic", "performance", "calibration", "data_drift", "feature_drift", "multivariate_drift",
                 "concept_drift", "on_demand")


@dataclass(frozen=True)
class Trigger:
    """One reason to update the model, found in one window."""

    kind: str
    action: Action
    reason: str
    window_start: dt.date
    window_end: dt.date
    # The evidence: which detector (or metric) on which feature, over which windows, how large.
    detector: str | None = None
    feature: str | None = None
    evidence_start: dt.date | None = None
    evidence_end: dt.date | None = None
    evidence_windows: int | None = None
    effect_size: float = math.nan


@dataclass(frozen=True)
class WindowSignals:
    """The numbers a trigger policy reads for one window (nan when not available yet)."""

    window_start: dt.date
    window_end: dt.date
    auroc: float
    ece: float
    score_psi: float
    concept_alarms: int
    model_age_days: int
    # Persistent shifts the drift detectors confirmed in this window (drift_evidence.shifts_in).
    shifts: tuple[PersistentShift, ...] = ()


def _drift_triggers(signals: WindowSignals, settings: ModelTriggerSettings) -> list[Trigger]:
    """One trigger per detector family (univariate, multivariate): its largest persistent shift."""
    out: list[Trigger] = []
    for kind, multivariate in (("feature_drift", False), ("multivariate_drift", True)):
        found = [s for s in signals.shifts if (s.last.source == MULTIVARIATE) == multivariate]
        if not found:
            continue
        top = found[0]
        more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
        out.append(Trigger(kind, settings.drift_action, top.describe() + more, signals.window_start,
                           signals.window_end, top.last.detector, top.last.feature, top.first_start,
                           top.last.window_end, top.windows, top.last.effect_size))
    return out


def evaluate_triggers(
    signals: WindowSignals, settings: ModelTriggerSettings, *, on_demand: Action | None = None
) -> list[Trigger]:
    """Triggers fired by one window's signals under the configured policy."""
    w0, w1 = signals.window_start, signals.window_end
    out: list[Trigger] = []
    if settings.periodic_retrain_days > 0 and signals.model_age_days >= settings.periodic_retrain_days:
        why = f"model age {signals.model_age_days} d >= {settings.periodic_retrain_days} d"
        out.append(Trigger("periodic", "retrain", why, w0, w1))
    if not math.isnan(signals.auroc) and signals.auroc < settings.min_auroc:
        why = f"AUROC {signals.auroc:.3f} < {settings.min_auroc:.3f}"
        out.append(Trigger("performance", "retrain", why, w0, w1, "realized_auroc", effect_size=signals.auroc))
    if not math.isnan(signals.ece) and signals.ece > settings.max_ece:
        why = f"ECE {signals.ece:.3f} > {settings.max_ece:.3f}"
        out.append(Trigger("calibration", "recalibrate", why, w0, w1, "realized_ece", effect_size=signals.ece))
    if not math.isnan(signals.score_psi) and signals.score_psi > settings.max_score_psi:
        why = f"score PSI {signals.score_psi:.3f} > {settings.max_score_psi:.3f}"
        out.append(Trigger("data_drift", "retrain", why, w0, w1, "score_psi", effect_size=signals.score_psi))
    if settings.on_data_drift:
        out += _drift_triggers(signals, settings)
    if settings.on_concept_drift and signals.concept_alarms > 0:
        why = f"{signals.concept_alarms} error-stream alarm(s)"
        out.append(Trigger("concept_drift", "recalibrate", why, w0, w1, "error_stream"))
    if on_demand is not None:
        out.append(Trigger("on_demand", on_demand, "requested by operator", w0, w1))
    return out
