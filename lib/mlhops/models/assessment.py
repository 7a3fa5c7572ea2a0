"""One evaluation pass over the scored windows of a registered model: the rows of every output
table (performance, fairness, model drift, triggers, label requests) and the per-window MLflow series.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlhops.config.stages import ModelSettings
from mlhops.models import registry
from mlhops.models.evaluation import WindowCases, WindowEvaluation, concept_drift, evaluate_window
from mlhops.models.drift_evidence import DriftHit, persistent_shifts, shifts_in
from mlhops.models.label_policy import plan_label_requests, reconcile_requests, window_history
from mlhops.models.triggers import Action, Trigger, WindowSignals, evaluate_triggers

if TYPE_CHECKING:
    from mlhops.tracking import Tracker


# The MLflow series of per-window evaluation metrics (one run per model version and window kind).
WINDOW_SERIES = "window_metrics"


@dataclass
class Assessment:
    """Rows for the evaluation tables, the windows evaluated and the versions loaded."""

    performance: list[dict] = field(default_factory=list)
    fairness: list[dict] = field(default_factory=list)
    drift: list[dict] = field(default_factory=list)
    triggers: list[dict] = field(default_factory=list)
    evaluated: list[tuple[WindowCases, WindowEvaluation]] = field(default_factory=list)
    models: dict[str, registry.LoadedModel] = field(default_factory=dict)

    @property
    def flagged(self) -> int:
        """Disparities flagged in the evaluated windows."""
        return sum(1 for r in self.fairness if r["flagged"])


def in_range(windows: Sequence[WindowCases], start: dt.date | None, end: dt.date | None) -> list[WindowCases]:
    """The windows starting in ``[start, end)`` (an unset bound does not limit)."""
    return [w for w in windows if (start is None or w.window_start >= start)
            and (end is None or w.window_start < end)]


def _trigger_row(name: str, version: str, t: Trigger, as_of: dt.date) -> dict:
    return {"model_name": name, "model_version": version, "window_start": t.window_start,
            "window_end": t.window_end, "kind": t.kind, "action": t.action, "reason": t.reason,
            "labels_as_of": as_of, "detector": t.detector, "feature": t.feature, "evidence_start": t.evidence_start,
            "evidence_end": t.evidence_end, "evidence_windows": t.evidence_windows, "effect_size": t.effect_size}


def _created(tracker: Tracker, name: str, version: str) -> dt.date:
    millis = registry.version_created(tracker, name, version)
    return dt.datetime.fromtimestamp(millis / 1000, tz=dt.timezone.utc).date()


def assess(
    tracker: Tracker, cfg: ModelSettings, name: str, windows: Sequence[WindowCases], selected: Sequence[WindowCases],
    *, champion: str | None, as_of: dt.date, on_demand: Action | None = None, hits: Sequence[DriftHit] = (),
) -> Assessment:
    """Evaluate the selected windows of every scored version; concept drift runs over all windows.

    Args:
        tracker: the MLflow tracker (loads each version and its reference profile).
        cfg: the ``models`` settings section.
        name: the registered model.
        windows: every scored window of the model, per version in time order.
        selected: the windows to (re)write rows for (a subset of ``windows``).
        champion: the champion's version (the on-demand trigger applies to its latest window).
        as_of: the label cut-off.
        on_demand: an operator's trigger, if any.
        hits: the drift detectors' flags (``drift_evidence.load_hits``): shifts that persist
            ``models.triggers.drift_windows`` windows fire data-drift triggers.
    """
    out = Assessment()
    shifts = persistent_shifts(hits, min_windows=cfg.triggers.drift_windows, min_effect=cfg.triggers.drift_min_effect)
    for version in sorted({w.model_version for w in windows}):
        loaded = out.models.setdefault(version, registry.load(tracker, name, version))
        own = [w for w in windows if w.model_version == version]
        drift_rows, alarms = concept_drift(own, loaded.profile, cfg, as_of)
        out.drift += [r for r in drift_rows if any(r["window_start"] == w.window_start for w in selected)]
        created = _created(tracker, name, version)
        for w in own:
            if w not in selected:
                continue
            ev = evaluate_window(w, loaded.profile, cfg, as_of)
            out.performance += ev.performance
            out.fairness += ev.fairness
            out.drift += ev.drift
            out.evaluated.append((w, ev))
            sig = WindowSignals(w.window_start, w.window_end, ev.realized_auroc, ev.realized_ece, ev.psi,
                                alarms.get(w.window_start, 0), (w.window_end - created).days,
                                tuple(shifts_in(shifts, w.window_start, w.window_end)))
            demand = on_demand if w is own[-1] and version == champion else None
            out.triggers += [_trigger_row(name, version, t, as_of)
                             for t in evaluate_triggers(sig, cfg.triggers, on_demand=demand)]
    return out


def label_requests(assessment: Assessment, windows: Sequence[WindowCases], cfg: ModelSettings, name: str,
                   champion: str | None, as_of: dt.date, *, hits: Sequence[DriftHit] = (),
                   existing: Sequence[Mapping[str, Any]] = ()) -> list[dict]:
    """Label-request rows to write for the champion's windows under ``models.label_policy``.

    Args:
        assessment: this evaluation (the champion's reference profile).
        windows: every scored window.
        cfg: the ``models`` settings section.
        name: the registered model.
        champion: the champion's version.
        as_of: the label cut-off.
        hits: the drift detectors' flags (windows they flag ask for labels).
        existing: the model's rows already in ``mlhops.label_requests`` (closed when labelled or expired).
    """
    if champion is None or champion not in assessment.models:
        return []
    profile, policy = assessment.models[champion].profile, cfg.label_policy
    history = window_history([w for w in windows if w.model_version == champion], profile, seed=cfg.bootstrap.seed,
                             hits=hits, min_drift_effect=policy.min_drift_effect)
    planned = [{"model_name": name, "model_version": champion, "window_start": r.window_start,
                "window_end": r.window_end, "policy": r.policy, "reason": r.reason, "n_requested": r.n_requested,
                "priority": r.priority, "status": "open", "planned_as_of": as_of}
               for r in plan_label_requests(history, policy, profile.auroc)]
    return reconcile_requests(existing, planned, history, as_of=as_of, expire_after_days=policy.expire_after_days)


def log_windows(tracker: Tracker, assessment: Assessment, run_id: str, stage: str, *, window_kind: str) -> None:
    """Each evaluated window's overall metrics as points of its version's series (step = window start).

    One MLflow run per model version and window kind holds the series (found again by its tags on
    later nights, see :mod:`mlhops.tracking.series`), so MLflow charts the metrics over time.

    Args:
        tracker: the MLflow tracker.
        assessment: the evaluated windows.
        run_id: the mlhops run (tagged on the series run as the latest to write it).
        stage: prefix of the runs' names.
        window_kind: the windows' granularity (``models.window``).
    """
    from mlhops.tracking.series import SeriesPoint, log_series, series_run

    points: dict[tuple[str, str], list[SeriesPoint]] = {}
    for w, ev in assessment.evaluated:
        metrics = {f"{r['method']}_{r['metric']}": float(r["estimate"]) for r in ev.performance if r["attribute"] == "all"}
        metrics |= {"n_scored": float(w.scores.size), "n_labelled": float(ev.n_labelled)}
        points.setdefault((w.model_name, w.model_version), []).append(SeriesPoint(w.window_start, metrics))
    for (name, version), series in sorted(points.items()):
        tags = {"mlhops.model": name, "mlhops.model_version": version, "mlhops.window_kind": window_kind}
        series_id = series_run(tracker, series=WINDOW_SERIES, tags=tags, run_name=f"{stage}-{name}-v{version}-{window_kind}")
        log_series(tracker, series_id, series)
        tracker.client().set_tag(series_id, "mlhops.run_id", run_id)
