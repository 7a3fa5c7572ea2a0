"""Recalibration challengers: which trigger and window to recalibrate on, fit, compare, register.

Policy: only ``recalibrate`` triggers of the champion of kinds :data:`RECALIBRATION_KINDS` lead
to a recalibration; the most recent triggered window with enough labels is used (calibration
triggers first); one pending challenger per champion (a later trigger does not replace it,
unless an operator asks for a different window).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlhops.config.stages import ModelSettings
from mlhops.models import registry
from mlhops.models.evaluation import WindowCases
from mlhops.models.metrics import classification_metrics
from mlhops.models.recalibration import Method, RecalibratedClassifier, fit_score_map
from mlhops.models.reference import build_profile

if TYPE_CHECKING:
    from mlhops.tracking import Tracker

logger = logging.getLogger(__name__)

# Trigger kinds a recalibration (not a retrain) answers.
RECALIBRATION_KINDS = ("calibration", "concept_drift", "feature_drift", "multivariate_drift", "on_demand")
# Metrics compared side by side for a challenger on held-out cases.
COMPARED = ("auroc", "brier", "ece", "calibration_slope", "calibration_intercept", "sensitivity", "ppv")


class RecalibrationError(ValueError):
    """A window cannot be recalibrated on (e.g. its labelled cases hold a single outcome class)."""


@dataclass(frozen=True)
class Recalibration:
    """A registered recalibration challenger and its side-by-side comparison on held-out cases."""

    version: str
    parent_version: str
    method: str
    n_fit: int
    n_holdout: int
    champion: dict[str, float]
    challenger: dict[str, float]


def recalibrate(
    tracker: Tracker,
    champion: registry.LoadedModel,
    y: np.ndarray,
    p: np.ndarray,
    *,
    method: Method,
    window_start: dt.date,
    window_end: dt.date,
    task: str,
    ece_bins: int,
) -> Recalibration:
    """Fit a score map on half of a labelled window, compare on the other half, register as challenger.

    Cases alternate between the fit and hold-out halves in their (time, hash) order, so the
    split is deterministic and both halves span the whole window.

    Raises:
        ValueError: the fit half holds a single class (nothing to calibrate against).
    """
    fit_idx = np.arange(y.size) % 2 == 0
    score_map = fit_score_map(y[fit_idx], p[fit_idx], method)
    new_threshold = float(score_map.apply(np.array([champion.profile.threshold]))[0])
    model = RecalibratedClassifier(champion.model, score_map, new_threshold)
    hold_y, hold_p = y[~fit_idx], p[~fit_idx]
    before = classification_metrics(hold_y, hold_p, champion.profile.threshold, ece_bins=ece_bins)
    after = classification_metrics(hold_y, score_map.apply(hold_p), new_threshold, ece_bins=ece_bins)
    profile = build_profile(y[fit_idx], score_map.apply(p[fit_idx]), new_threshold, ece_bins=ece_bins)
    metrics = {f"holdout_champion_{k}": before[k] for k in COMPARED}
    metrics |= {f"holdout_challenger_{k}": after[k] for k in COMPARED}
    tags = {
        "mlhops.task": task,
        "mlhops.kind": "recalibration",
        "mlhops.parent_version": champion.version,
        "mlhops.recalibration_method": method,
        "mlhops.recalibration_window": f"{window_start.isoformat()}/{window_end.isoformat()}",
    }
    version, _ = registry.register(
        tracker, name=champion.name, model=model, features=champion.features, profile=profile,
        example=None, metrics=metrics,
        signature=registry.signature_of(tracker, champion.name, champion.version),
        params={"method": method, "n_fit": int(fit_idx.sum()), "n_holdout": int((~fit_idx).sum()),
                "parent_version": champion.version, **score_map.to_dict()},
        tags=tags, alias=registry.CHALLENGER, run_name="recalibrate",
    )
    return Recalibration(version, champion.version, method, int(fit_idx.sum()), int((~fit_idx).sum()),
                         {k: before[k] for k in COMPARED}, {k: after[k] for k in COMPARED})


def triggered_window(
    triggers: Sequence[Mapping[str, Any]], windows: Sequence[WindowCases], champion: str | None, min_cases: int
) -> WindowCases | None:
    """The champion window to recalibrate on after an evaluation, or None.

    Args:
        triggers: trigger rows of the evaluation (``model_version``, ``action``, ``kind``, ``window_start``).
        windows: every evaluated window.
        champion: the champion's version.
        min_cases: labelled cases a window needs (``models.triggers.min_recalibration_cases``).

    Returns:
        The most recent window with a recalibration trigger and enough labels, calibration
        triggers ranked first.
    """
    fired = [t for t in triggers if t["model_version"] == champion and t["action"] == "recalibrate"
             and t["kind"] in RECALIBRATION_KINDS]
    by_start = {w.window_start: w for w in windows if w.model_version == champion}
    ranked = sorted(fired, key=lambda t: (t["kind"] == "calibration", t["window_start"]), reverse=True)
    enough = [by_start[t["window_start"]] for t in ranked
              if int(by_start[t["window_start"]].labelled.sum()) >= min_cases]
    return enough[0] if enough else None


def latest_labelled_window(windows: Sequence[WindowCases], champion: str, min_cases: int) -> WindowCases | None:
    """The champion's latest window with at least ``min_cases`` labelled cases (on-demand recalibration)."""
    own = [w for w in windows if w.model_version == champion and w.labelled.sum() >= min_cases]
    return own[-1] if own else None


def recalibrate_window(
    tracker: Tracker, cfg: ModelSettings, task: str, champion: registry.LoadedModel, w: WindowCases,
    *, replace_pending: bool = False,
) -> dict[str, Any] | None:
    """Register a recalibration of the champion fitted on window ``w`` as challenger.

    One pending challenger per champion: while a recalibration of this champion awaits a
    promote decision, later triggers do not replace it (unless ``replace_pending``, for an
    on-demand request on a different window).

    Args:
        tracker: the MLflow tracker.
        cfg: the ``models`` settings section.
        task: the task name (tagged on the version).
        champion: the loaded champion.
        w: the labelled window to fit and compare on.
        replace_pending: replace a pending recalibration fitted on another window.

    Returns:
        The new version with both sides' held-out metrics, or None when nothing was registered.

    Raises:
        RecalibrationError: the window cannot be recalibrated on (e.g. a single outcome class).
    """
    existing = registry.alias_version(tracker, champion.name, registry.CHALLENGER)
    window_tag = f"{w.window_start.isoformat()}/{w.window_end.isoformat()}"
    if existing is not None:
        tags = registry.version_tags(tracker, champion.name, existing)
        if tags.get("mlhops.parent_version") == champion.version and (
            not replace_pending or tags.get("mlhops.recalibration_window") == window_tag
        ):
            return None
    m = w.labelled
    min_cases = cfg.triggers.min_recalibration_cases
    if int(m.sum()) < min_cases:
        logger.info("recalibration skipped: %d labelled cases < %d", int(m.sum()), min_cases)
        return None
    try:
        r = recalibrate(tracker, champion, w.labels[m], w.scores[m], method=cfg.triggers.recalibration_method,
                        window_start=w.window_start, window_end=w.window_end, task=task, ece_bins=cfg.ece_bins)
    except ValueError as exc:
        raise RecalibrationError(f"recalibration on window {w.window_start}: {exc}") from None
    summary = asdict(r)
    return {k: summary[k] for k in ("version", "parent_version", "method", "champion", "challenger")}
