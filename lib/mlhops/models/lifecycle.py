"""Recalibration challengers and explicit promote / rollback of registered versions."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import numpy as np

from mlhops.config.model import Settings
from mlhops.models import registry
from mlhops.models.metrics import classification_metrics
from mlhops.models.recalibration import Method, RecalibratedClassifier, fit_score_map
from mlhops.models.reference import build_profile

logger = logging.getLogger(__name__)

# Metrics compared side by side for a challenger on held-out cases.
COMPARED = ("auroc", "brier", "ece", "calibration_slope", "calibration_intercept", "sensitivity", "ppv")


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
    settings: Settings,
    champion: registry.LoadedModel,
    y: np.ndarray,
    p: np.ndarray,
    *,
    method: Method,
    window_start: dt.date,
    window_end: dt.date,
    task: str,
) -> Recalibration:
    """Fit a score map on half of a labelled window, compare on the other half, register as challenger.

    Cases alternate between the fit and hold-out halves in their (time, hash) order, so the
    split is deterministic and both halves span the whole window.
    """
    fit_idx = np.arange(y.size) % 2 == 0
    score_map = fit_score_map(y[fit_idx], p[fit_idx], method)
    new_threshold = float(score_map.apply(np.array([champion.profile.threshold]))[0])
    model = RecalibratedClassifier(champion.model, score_map, new_threshold)
    cfg = settings.models
    hold_y, hold_p = y[~fit_idx], p[~fit_idx]
    before = classification_metrics(hold_y, hold_p, champion.profile.threshold, ece_bins=cfg.ece_bins)
    after = classification_metrics(hold_y, score_map.apply(hold_p), new_threshold, ece_bins=cfg.ece_bins)
    profile = build_profile(y[fit_idx], score_map.apply(p[fit_idx]), new_threshold, ece_bins=cfg.ece_bins)
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
        settings, name=champion.name, model=model, features=champion.features, profile=profile,
        example=None, metrics=metrics,
        signature=registry.signature_of(settings, champion.name, champion.version),
        params={"method": method, "n_fit": int(fit_idx.sum()), "n_holdout": int((~fit_idx).sum()),
                "parent_version": champion.version, **score_map.to_dict()},
        tags=tags, alias=registry.CHALLENGER, run_name="recalibrate",
    )
    return Recalibration(version, champion.version, method, int(fit_idx.sum()), int((~fit_idx).sum()),
                         {k: before[k] for k in COMPARED}, {k: after[k] for k in COMPARED})


@dataclass(frozen=True)
class AliasChange:
    """One explicit promote or rollback."""

    action: str
    from_version: str | None
    to_version: str


def promote(settings: Settings, name: str, version: str | None = None) -> AliasChange:
    """Make ``version`` (default: the challenger) the champion.

    The replaced champion becomes ``previous_champion``.

    Raises:
        RegistryError: no challenger and no version given, or the version does not exist.
    """
    target = version or registry.alias_version(settings, name, registry.CHALLENGER)
    if target is None:
        raise registry.RegistryError(f"model {name}: no challenger to promote and no version given")
    registry.load(settings, name, target)  # fails clearly when the version does not exist
    current = registry.alias_version(settings, name, registry.CHAMPION)
    if current == target:
        return AliasChange("promote", current, target)
    registry.move_alias(settings, name, registry.CHAMPION, target)
    if current is not None:
        registry.move_alias(settings, name, registry.PREVIOUS_CHAMPION, current)
    if registry.alias_version(settings, name, registry.CHALLENGER) == target:
        registry.drop_alias(settings, name, registry.CHALLENGER)
    registry.tag_version(settings, name, target, "mlhops.promoted_from", current or "")
    logger.info("promoted %s version %s to champion (was %s)", name, target, current)
    return AliasChange("promote", current, target)


def rollback(settings: Settings, name: str, version: str | None = None) -> AliasChange:
    """Point the champion back at ``version`` (default: ``previous_champion``).

    Raises:
        RegistryError: nothing to roll back to.
    """
    target = version or registry.alias_version(settings, name, registry.PREVIOUS_CHAMPION)
    if target is None:
        raise registry.RegistryError(
            f"model {name}: no previous champion to roll back to and no version given"
        )
    registry.load(settings, name, target)
    current = registry.alias_version(settings, name, registry.CHAMPION)
    registry.move_alias(settings, name, registry.CHAMPION, target)
    registry.drop_alias(settings, name, registry.PREVIOUS_CHAMPION)
    if current is not None and current != target:
        registry.tag_version(settings, name, current, "mlhops.rolled_back", "true")
    logger.info("rolled %s back from version %s to %s", name, current, target)
    return AliasChange("rollback", current, target)
