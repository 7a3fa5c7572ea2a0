"""Drift results feed triggers and label requests; label requests are closed when labels arrive.

The rules are specified on the rows the drift detectors write (``DriftHit`` is one flagged
``DriftResult`` row); the stages that write and read them are run end to end in
tests/spark/models/test_closing_the_loop.py.
"""

import datetime as dt
import math

import numpy as np
import pytest

from mlhops.config.stages import ModelLabelPolicySettings, ModelTriggerSettings
from mlhops.models.drift_evidence import MULTIVARIATE, UNIVARIATE, DriftHit, persistent_shifts, shifts_in
from mlhops.models.evaluation import WindowCases
from mlhops.models.label_policy import WindowStatus, labelled_on, plan_label_requests, reconcile_requests
from mlhops.models.triggers import WindowSignals, evaluate_triggers

MON = dt.date(2024, 2, 5)


def _week(i):
    return MON + dt.timedelta(days=7 * i)


def _hit(i, effect=0.3, feature="prior_inpatient", source=UNIVARIATE, detector="ks"):
    return DriftHit(source, detector, feature, "week", "baseline", _week(i), _week(i + 1), effect, "ks_d", 1e-6)


def test_a_shift_counts_once_it_persists_k_adjacent_windows_with_a_large_enough_effect():
    hits = [_hit(0), _hit(1), _hit(2), _hit(4), _hit(5, effect=0.05), _hit(6, feature="age")]
    shifts = persistent_shifts(hits, min_windows=2, min_effect=0.1)
    assert [(s.last.window_start, s.windows, s.first_start) for s in shifts] == [(_week(1), 2, _week(0)),
                                                                                 (_week(2), 3, _week(0))]
    # week 4 alone (week 3 not flagged, week 5 too small) and one week of age never count
    assert persistent_shifts(hits, min_windows=1, min_effect=0.1)[-1].last.window_start == _week(6)
    assert len(persistent_shifts(hits, min_windows=1, min_effect=0.0)) == 6
    # multivariate detectors have no effect size: their test is the flag
    mv = [_hit(i, effect=math.nan, feature="vitals", source=MULTIVARIATE, detector="mmd") for i in (0, 1)]
    assert [s.last.detector for s in persistent_shifts(mv, min_windows=2, min_effect=0.5)] == ["mmd"]


def test_persistent_shifts_fire_drift_triggers_that_say_why():
    hits = [_hit(0), _hit(1, effect=0.42), _hit(0, effect=math.nan, feature="vitals", source=MULTIVARIATE,
                                                 detector="mmd"), _hit(1, math.nan, "vitals", MULTIVARIATE, "mmd")]
    shifts = persistent_shifts(hits, min_windows=2, min_effect=0.1)
    settings = ModelTriggerSettings(periodic_retrain_days=0)
    model_week = (_week(1), _week(2))
    sig = WindowSignals(*model_week, math.nan, math.nan, math.nan, 0, 10, tuple(shifts_in(shifts, *model_week)))
    fired = {t.kind: t for t in evaluate_triggers(sig, settings)}
    assert set(fired) == {"feature_drift", "multivariate_drift"}
    uni = fired["feature_drift"]
    assert (uni.action, uni.detector, uni.feature, uni.evidence_windows) == ("retrain", "ks", "prior_inpatient", 2)
    assert (uni.evidence_start, uni.evidence_end, uni.effect_size) == (_week(0), _week(2), 0.42)
    assert "mlhops.drift_metrics" in uni.reason and "ks_d=0.420" in uni.reason
    assert "mlhops.multivariate_drift" in fired["multivariate_drift"].reason
    # the first week alone is not persistent yet; switched off, nothing fires
    first = WindowSignals(_week(0), _week(1), math.nan, math.nan, math.nan, 0, 3,
                          tuple(shifts_in(shifts, _week(0), _week(1))))
    assert evaluate_triggers(first, settings) == []
    off = ModelTriggerSettings(periodic_retrain_days=0, on_data_drift=False)
    assert evaluate_triggers(sig, off) == []


def test_trigger_settings_are_validated():
    with pytest.raises(ValueError, match="drift_windows"):
        ModelTriggerSettings(drift_windows=0)
    with pytest.raises(ValueError, match="drift_min_effect"):
        ModelTriggerSettings(drift_min_effect=-0.1)
    with pytest.raises(ValueError, match="expire_after_days"):
        ModelLabelPolicySettings(expire_after_days=0)


def _status(i, labelled=False, drift=None, on=None):
    return WindowStatus(_week(i), _week(i + 1), 400, 400 if labelled else 0, 0.70, 0.0, drift, on)


@pytest.mark.parametrize("policy", ["request_and_reverify", "mldemon"])
def test_a_window_the_drift_detectors_flag_asks_for_labels_at_once(policy):
    history = [_status(0, labelled=True), _status(1), _status(2, drift="ks on prior_inpatient, ks_d=0.300")]
    reqs = plan_label_requests(history, ModelLabelPolicySettings(policy=policy, period_windows=10), 0.70)
    assert [(r.window_start, r.priority) for r in reqs] == [(_week(2), 1)]
    assert "prior_inpatient" in reqs[0].reason
    quiet = plan_label_requests(history, ModelLabelPolicySettings(policy=policy, period_windows=10,
                                                                  on_data_drift=False), 0.70)
    assert quiet == []


def test_labelled_on_is_the_day_the_window_reached_the_labelled_fraction():
    n = 10
    dates = np.array([np.datetime64("2024-03-01") + np.timedelta64(i, "D") for i in range(n)])
    labels = np.zeros(n, np.int64)
    w = WindowCases("m", "1", _week(0), _week(1), np.full(n, 0.2), np.zeros(n, np.int64), labels, {}, dates)
    assert labelled_on(w) == dt.date(2024, 3, 9)  # the 9th of 10 labels (90 %)
    labels[-2:] = -1
    assert labelled_on(w) is None


def test_requests_are_opened_closed_when_labelled_or_expired_and_never_reopened():
    base = {"model_name": "m", "model_version": "1", "policy": "mldemon", "reason": "r", "n_requested": 200,
            "priority": 1}
    first = {**base, "window_start": _week(1), "window_end": _week(2), "status": "open", "planned_as_of": _week(2)}
    second = {**base, "window_start": _week(2), "window_end": _week(3), "status": "open", "planned_as_of": _week(3)}
    rows = reconcile_requests([], [first, second], [_status(1), _status(2)], as_of=_week(3), expire_after_days=30)
    assert [r["status"] for r in rows] == ["open", "open"] and rows[0]["days_to_label"] is None
    on_file = rows
    later = _week(3) + dt.timedelta(days=40)
    replanned = [{**second, "planned_as_of": later}]
    history = [_status(1, labelled=True, on=_week(2) + dt.timedelta(days=33)), _status(2)]
    closed = {r["window_start"]: r for r in reconcile_requests(on_file, replanned, history, as_of=later,
                                                               expire_after_days=30)}
    assert closed[_week(1)]["status"] == "fulfilled" and closed[_week(1)]["days_to_label"] == 33
    assert closed[_week(1)]["labelled_on"] == _week(2) + dt.timedelta(days=33)
    assert closed[_week(2)]["status"] == "expired" and closed[_week(2)]["planned_as_of"] == _week(3)
    assert closed[_week(2)]["closed_as_of"] == later
    done = [closed[_week(1)], closed[_week(2)]]
    assert reconcile_requests(done, replanned, history, as_of=later, expire_after_days=30) == []
