"""Which windows need expert labels next: periodic, request-and-reverify, MLDemon-style.

Policies read the history of windows (oldest first) and return requests for windows whose
labels are not in yet. The plan is a pure function of that history, so re-running the
evaluation yields the same requests.

- ``periodic``: a window every ``period_windows`` windows since the last labelled/requested one.
- ``request_and_reverify``: a window the drift detectors flagged (``mlhops.drift_metrics`` with
  effect >= ``min_drift_effect``, ``mlhops.multivariate_drift``), or whose model-side signal
  (CBPE AUROC drop, score PSI) exceeds that of the last verified (labelled) window by
  ``drift_threshold``; once its labels arrive it becomes the new baseline.
- ``mldemon`` (after Ginart et al., "MLDemon: Deployment Monitoring for Machine Learning
  Systems", AISTATS 2022): the accuracy estimated from data change (CBPE AUROC drop since the
  last labelled window) plus an uncertainty that grows per unlabelled window must stay within
  ``tolerance``; otherwise, or at the latest every ``period_windows``, labels are requested.
  A window the drift detectors flagged is requested at once (urgent), as under
  ``request_and_reverify``.

Requests are then reconciled with those already on file (:func:`reconcile_requests`): an open
request is closed as ``fulfilled`` once its window is labelled (with the date its labels arrived
and the days from request to labels) or as ``expired`` after ``expire_after_days``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlhops.config.stages import ModelLabelPolicySettings
from mlhops.models.cbpe import cbpe_estimates
from mlhops.models.drift_evidence import DriftHit, overlapping
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
    # What the drift detectors flagged in the window (None: nothing large enough).
    data_drift: str | None = None
    # The day the window reached the labelled fraction (None: not yet).
    labelled_on: dt.date | None = None

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
        elif w.data_drift is not None and settings.on_data_drift:
            reason = f"drift detectors flagged the window: {w.data_drift}"
            priority = 1
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


def drift_summary(hits: Sequence[DriftHit], start: dt.date, end: dt.date, min_effect: float) -> str | None:
    """The drift flags of ``[start, end)`` that count (largest effect first), or None."""
    found = [h for h in overlapping(hits, start, end) if h.large_enough(min_effect)]
    if not found:
        return None
    found.sort(key=lambda h: (-abs(h.effect_size) if not math.isnan(h.effect_size) else 0.0, h.detector, h.feature))
    more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
    return found[0].describe() + more


def labelled_on(w: WindowCases) -> dt.date | None:
    """The day the window's labels reached :data:`LABELLED_FRACTION` of its cases, or None."""
    n = int(w.scores.size)
    need = math.ceil(LABELLED_FRACTION * n)
    if n == 0 or w.label_dates is None or int(w.labelled.sum()) < need:
        return None
    days = np.sort(w.label_dates[w.labelled])
    return days[need - 1].astype("datetime64[D]").item()


def window_history(windows: Sequence[WindowCases], profile: ReferenceProfile, *, seed: int,
                   hits: Sequence[DriftHit] = (), min_drift_effect: float = 0.0) -> list[WindowStatus]:
    """What the policies read of one version's scored windows (oldest first).

    Args:
        windows: the version's windows in time order.
        profile: the version's reference profile (calibrator, threshold, score bins).
        seed: the bootstrap seed (``models.bootstrap.seed``).
        hits: the drift detectors' flags (``drift_evidence.load_hits``).
        min_drift_effect: the least univariate effect size that asks for labels.
    """
    history = []
    for w in windows:
        est = cbpe_estimates(w.scores, profile.calibrator, profile.threshold, replicates=CBPE_REPLICATES, seed=seed)
        history.append(WindowStatus(w.window_start, w.window_end, int(w.scores.size), int(w.labelled.sum()),
                                    est["auroc"].estimate, score_psi(profile, w.scores),
                                    drift_summary(hits, w.window_start, w.window_end, min_drift_effect),
                                    labelled_on(w)))
    return history


def reconcile_requests(existing: Sequence[Mapping[str, Any]], planned: Sequence[Mapping[str, Any]],
                       history: Sequence[WindowStatus], *, as_of: dt.date, expire_after_days: int) -> list[dict]:
    """The label-request rows to write: new requests opened, open ones closed, closed ones kept.

    An open request whose window is now labelled becomes ``fulfilled`` (``labelled_on``: the day
    its labels reached the labelled fraction; ``days_to_label``: from ``planned_as_of`` to that
    day); one still unlabelled ``expire_after_days`` after it was planned becomes ``expired``.
    A request on file keeps its ``planned_as_of`` (a re-plan does not restart its clock), and a
    closed request is never reopened.

    Args:
        existing: the rows of ``mlhops.label_requests`` for this model.
        planned: this evaluation's planned requests (status ``open``).
        history: the champion's windows (labelled state and ``labelled_on``).
        as_of: this evaluation's label cut-off.
        expire_after_days: ``models.label_policy.expire_after_days``.
    """
    status = {w.window_start: w for w in history}
    key = lambda r: (r["model_name"], r["window_start"], r["policy"])  # noqa: E731
    on_file = {key(r): dict(r) for r in existing}
    out = [dict(r) | {"closed_as_of": None, "labelled_on": None, "days_to_label": None}
           for r in planned if key(r) not in on_file]
    for r in on_file.values():
        if r["status"] != "open":
            continue
        w = status.get(r["window_start"])
        if w is not None and w.labelled and w.labelled_on is not None:
            days = max(0, (w.labelled_on - r["planned_as_of"]).days)
            out.append(r | {"status": "fulfilled", "closed_as_of": as_of, "labelled_on": w.labelled_on,
                            "days_to_label": days})
        elif (as_of - r["planned_as_of"]).days > expire_after_days:
            out.append(r | {"status": "expired", "closed_as_of": as_of, "labelled_on": None, "days_to_label": None})
    return out
