"""Concept-drift detectors, recalibration, triggers and label-request policies on real UCI predictions."""

import datetime as dt
import math

import numpy as np

from mlhops.config.stages import ModelLabelPolicySettings, ModelTriggerSettings
from mlhops.models.concept_drift import adwin, block_z, cusum, ddm, page_hinkley
from mlhops.models.label_policy import WindowStatus, plan_label_requests
from mlhops.models.metrics import ece, logit
from mlhops.models.recalibration import RecalibratedClassifier, fit_score_map
from mlhops.models.reference import build_profile
from mlhops.models.triggers import WindowSignals, evaluate_triggers

THRESHOLD = 0.12
BLOCK = 50


def _stream(uci, seed=1):
    d = uci.deployment.sample(frac=1.0, random_state=seed)  # exchangeable: any alarm is false
    return d["y"].to_numpy(), d["p"].to_numpy()


def _miscalibrate(p):
    """A planted calibration drift: over-confident, over-estimating scores."""
    return 1 / (1 + np.exp(-(1.8 * logit(p) + 0.8)))


def _detectors(profile, y, p):
    z, _ = block_z(y - p, profile.residual_mean, profile.residual_std, BLOCK)
    err = ((p >= THRESHOLD) != y).astype(float)
    return (
        cusum(z, k=0.5, h=8.0, two_sided=True),
        page_hinkley(z, delta=0.25, lam=25.0, two_sided=True),
        ddm(err, min_instances=100, warning_level=2.0, drift_level=3.0),
    )


def test_detectors_stay_quiet_on_an_exchangeable_real_stream(uci):
    profile = build_profile(uci.validation["y"], uci.validation["p"], THRESHOLD)
    y, p = _stream(uci)
    for run in _detectors(profile, y, p):
        assert run.alarms == (), run.detector


def test_cusum_and_page_hinkley_alarm_soon_after_a_planted_calibration_drift(uci):
    profile = build_profile(uci.validation["y"], uci.validation["p"], THRESHOLD)
    y, p = _stream(uci)
    change = y.size // 2
    p = p.copy()
    p[change:] = _miscalibrate(p[change:])
    change_block = change // BLOCK
    for run in _detectors(profile, y, p)[:2]:
        assert run.alarms, run.detector
        assert change_block <= run.alarms[0] <= change_block + 40, (run.detector, run.alarms[0])


def test_ddm_alarms_when_the_outcome_no_longer_follows_the_score(uci):
    profile = build_profile(uci.validation["y"], uci.validation["p"], THRESHOLD)
    y, p = _stream(uci)
    change = y.size // 2
    y = y.copy()
    rng = np.random.default_rng(0)
    # Concept drift: after the change, half of the outcomes are replaced by coin flips at 30 %.
    flip = rng.random(y.size) < 0.5
    flip[:change] = False
    y[flip] = (rng.random(int(flip.sum())) < 0.3).astype(int)
    run = _detectors(profile, y, p)[2]
    assert run.alarms and run.alarms[0] >= change


def test_planted_calibration_drift_triggers_recalibration_and_the_challenger_is_better_later(uci):
    profile = build_profile(uci.validation["y"], uci.validation["p"], THRESHOLD)
    d = uci.deployment
    y = d["y"].to_numpy()
    p = _miscalibrate(d["p"].to_numpy())
    windows = np.array_split(np.arange(y.size), 8)
    first = windows[0]
    signals = WindowSignals(dt.date(2024, 1, 1), dt.date(2024, 1, 8), 0.66, ece(y[first], p[first]),
                            0.0, 0, 10)
    fired = evaluate_triggers(signals, ModelTriggerSettings())
    assert [t.kind for t in fired] == ["calibration"] and fired[0].action == "recalibrate"
    for method in ("platt", "isotonic"):
        score_map = fit_score_map(y[first], p[first], method)
        for later in windows[1:]:
            assert ece(y[later], score_map.apply(p[later])) < ece(y[later], p[later]), method
    assert profile.ece < 0.03


def test_recalibrated_classifier_wraps_a_base_model():
    class Base:
        def predict_proba(self, x):
            s = np.asarray(x, dtype=float).ravel()
            return np.column_stack([1 - s, s])

    model = RecalibratedClassifier(Base(), fit_score_map([0, 0, 1, 1, 0, 1], [0.1, 0.3, 0.6, 0.9, 0.7, 0.2], "platt"), 0.5)
    proba = model.predict_proba([0.2, 0.8])
    assert proba.shape == (2, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert proba[0, 1] < proba[1, 1]
    assert list(model.predict([0.0001, 0.9999])) == [0, 1]


def test_triggers_cover_periodic_performance_drift_and_on_demand():
    s = ModelTriggerSettings(periodic_retrain_days=30)
    sig = WindowSignals(dt.date(2024, 1, 1), dt.date(2024, 1, 8), 0.55, 0.01, 0.4, 2, 31)
    kinds = [t.kind for t in evaluate_triggers(sig, s, on_demand="retrain")]
    assert kinds == ["periodic", "performance", "data_drift", "concept_drift", "on_demand"]
    quiet = WindowSignals(dt.date(2024, 1, 1), dt.date(2024, 1, 8), math.nan, math.nan, 0.01, 0, 3)
    assert evaluate_triggers(quiet, s) == []


def _history(drops):
    start = dt.date(2024, 1, 1)
    out = []
    for i, drop in enumerate(drops):
        w0 = start + dt.timedelta(days=7 * i)
        labelled = i == 0
        out.append(WindowStatus(w0, w0 + dt.timedelta(days=7), 500, 500 if labelled else 0, 0.70 - drop, 0.0))
    return out


def test_periodic_policy_requests_every_period():
    reqs = plan_label_requests(_history([0.0] * 9), ModelLabelPolicySettings(policy="periodic", period_windows=4), 0.7)
    assert [r.window_start for r in reqs] == [dt.date(2024, 1, 29), dt.date(2024, 2, 26)]
    assert all(r.n_requested == 200 for r in reqs)


def test_request_and_reverify_asks_only_when_drift_passes_the_threshold():
    reqs = plan_label_requests(_history([0, 0, 0.01, 0.08, 0.02]),
                               ModelLabelPolicySettings(policy="request_and_reverify"), 0.7)
    assert [(r.window_start, r.priority) for r in reqs] == [(dt.date(2024, 1, 22), 1)]


def test_mldemon_combines_a_cycle_with_the_accuracy_estimate():
    cfg = ModelLabelPolicySettings(policy="mldemon", period_windows=6, tolerance=0.05, uncertainty_per_window=0.01)
    quiet = plan_label_requests(_history([0.0] * 8), cfg, 0.7)
    # Uncertainty alone passes the tolerance after 6 unlabelled windows.
    assert [r.window_start for r in quiet] == [dt.date(2024, 2, 12)]
    drifting = plan_label_requests(_history([0.0, 0.0, 0.06]), cfg, 0.7)
    assert [(r.window_start, r.priority) for r in drifting] == [(dt.date(2024, 1, 15), 1)]


def _concept_drift(y, change, seed=0):
    """After ``change``, half of the outcomes are replaced by coin flips at 30 % (the score no longer fits)."""
    y = y.copy()
    rng = np.random.default_rng(seed)
    flip = rng.random(y.size) < 0.5
    flip[:change] = False
    y[flip] = (rng.random(int(flip.sum())) < 0.3).astype(int)
    return y


def test_adwin_stays_quiet_on_exchangeable_real_streams(uci):
    for seed in (1, 2, 3):
        y, p = _stream(uci, seed)
        run = adwin((y - p) ** 2, delta=0.002)
        assert run.alarms == (), seed
        assert abs(run.statistic[-1] - np.mean((y - p) ** 2)) < 0.01  # the window kept (almost) everything


def test_adwin_alarms_after_a_planted_concept_change(uci):
    y, p = _stream(uci)
    change = y.size // 2
    run = adwin((_concept_drift(y, change) - p) ** 2, delta=0.002)
    assert run.alarms and change <= run.alarms[0] <= change + 3000, run.alarms[:3]
    assert run.detector == "adwin" and run.threshold == 0.002
