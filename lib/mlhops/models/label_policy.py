"""Which windows need expert labels next: periodic, request-and-reverify, MLDemon-style.

Policies read the history of windows (oldest first) and return requests for windows whose
labels are not in yet. The plan is a pure function of that history, so re-running the
evaluation yields the same requests.

- ``periodic``: a window every ``period_windows`` windows since the last labelled/requested one.
- ``request_and_reverify``: a window whose drift signal exceeds the signal of the last verified
  (labelled) window by ``drift_threshold``; once its labels arrive it becomes the new baseline.
- ``mldemon`` (after Ginart et al., "MLDemon: Deployment Monitoring for Machine Learning
  Systems", AISTATS 2022): the accuracy estimated from data change (CBPE AUROC drop since the
  last labelled window) plus an uncertainty that grows per unlabelled window must stay within
  ``tolerance``; otherwise, or at the latest every ``period_windows``, labels are requested.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlhops.config.stages import ModelLabelPolicySettings
from mlhops.models.cbpe import cbpe_estimates
from mlhops.models.reference import ReferenceProfile, score_psi

if TYPE_CHECKING:
    from mlhops.models.evaluation import WindowCases

# A window counts as labelled once this share of its cases has labels.
LABELLED_FRACTION = 0.9


@dataclass(frozen=True)
class WindowStatus:
    """What is known about one scored window when planning label requests."""

    window_start: dt.date
    window_end: dt.date
    n_cases: int
    n_labelled: int
    estimated_auroc: float  # CBPE
    score_psi: float

    @property
    def labelled(self) -> bool:
        return self.n_cases > 0 and self.n_labelled >= LABELLED_FRACTION * self.n_cases


@dataclass(frozen=True)
class LabelRequest:
    """A request to label cases of one window."""

    window_start: dt.date
    window_end: dt.date
    policy: str
    reason: str
    n_requested: int
    priority: int  # 1 = urgent (drift), 2 = routine (periodic)


def _drift_signal(w: WindowStatus, baseline_auroc: float) -> float:
    drop = baseline_auroc - w.estimated_auroc if not math.isnan(w.estimated_auroc) else 0.0
    psi = w.score_psi if not math.isnan(w.score_psi) else 0.0
    return max(drop, psi)


def plan_label_requests(
    history: Sequence[WindowStatus], settings: ModelLabelPolicySettings, reference_auroc: float
) -> list[LabelRequest]:
    """Label requests for the unlabelled windows of ``history`` (ordered oldest first)."""
    requests: list[LabelRequest] = []
    last_index = -1  # last labelled or requested window
    baseline = reference_auroc
    for i, w in enumerate(history):
        if w.labelled:
            last_index = i
            if not math.isnan(w.estimated_auroc):
                baseline = w.estimated_auroc
            continue
        missing = w.n_cases - w.n_labelled
        n_req = missing if settings.batch_size == 0 else min(settings.batch_size, missing)
        if n_req <= 0:
            continue
        since = i - last_index
        signal = _drift_signal(w, baseline)
        reason: str | None = None
        priority = 2
        if settings.policy == "periodic":
            if since >= settings.period_windows:
                reason = f"periodic: {since} windows since last labels"
        elif settings.policy == "request_and_reverify":
            if signal > settings.drift_threshold:
                reason = f"drift signal {signal:.3f} > {settings.drift_threshold:.3f}"
                priority = 1
        else:
            uncertainty = signal + settings.uncertainty_per_window * since
            if uncertainty > settings.tolerance:
                reason = (
                    f"estimated accuracy change {signal:.3f} + uncertainty "
                    f"{settings.uncertainty_per_window * since:.3f} > {settings.tolerance:.3f}"
                )
                priority = 1 if signal > settings.drift_threshold else 2
            elif since >= settings.period_windows:
                reason = f"periodic: {since} windows since last labels"
        if reason is not None:
            requests.append(
                LabelRequest(w.window_start, w.window_end, settings.policy, reason, n_req, priority)
            )
            last_index = i
    return requests


# Bootstrap replicates of the CBPE estimate behind each window's drift signal (its point
# estimate is what the policies read; the interval is not used).
CBPE_REPLICATES = 20


def window_history(windows: Sequence[WindowCases], profile: ReferenceProfile, *, seed: int) -> list[WindowStatus]:
    """What the policies read of one version's scored windows (oldest first).

    Args:
        windows: the version's windows in time order.
        profile: the version's reference profile (calibrator, threshold, score bins).
        seed: the bootstrap seed (``models.bootstrap.seed``).
    """
    history = []
    for w in windows:
        est = cbpe_estimates(w.scores, profile.calibrator, profile.threshold, replicates=CBPE_REPLICATES, seed=seed)
        history.append(WindowStatus(w.window_start, w.window_end, int(w.scores.size), int(w.labelled.sum()),
                                    est["auroc"].estimate, score_psi(profile, w.scores)))
    return history
