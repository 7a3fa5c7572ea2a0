"""Retraining and recalibration triggers: periodic, performance, drift, concept drift, on demand."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Literal

from mlhops.config.stages import ModelTriggerSettings

Action = Literal["retrain", "recalibrate"]
TRIGGER_KINDS = ("periodic", "performance", "calibration", "data_drift", "concept_drift", "on_demand")


@dataclass(frozen=True)
class Trigger:
    """One reason to update the model, found in one window."""

    kind: str
    action: Action
    reason: str
    window_start: dt.date
    window_end: dt.date


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
        out.append(Trigger("performance", "retrain", why, w0, w1))
    if not math.isnan(signals.ece) and signals.ece > settings.max_ece:
        why = f"ECE {signals.ece:.3f} > {settings.max_ece:.3f}"
        out.append(Trigger("calibration", "recalibrate", why, w0, w1))
    if not math.isnan(signals.score_psi) and signals.score_psi > settings.max_score_psi:
        why = f"score PSI {signals.score_psi:.3f} > {settings.max_score_psi:.3f}"
        out.append(Trigger("data_drift", "retrain", why, w0, w1))
    if settings.on_concept_drift and signals.concept_alarms > 0:
        why = f"{signals.concept_alarms} error-stream alarm(s)"
        out.append(Trigger("concept_drift", "recalibrate", why, w0, w1))
    if on_demand is not None:
        out.append(Trigger("on_demand", on_demand, "requested by operator", w0, w1))
    return out
