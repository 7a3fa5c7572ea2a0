"""Realized performance metrics and their bootstrap intervals, on real UCI predictions."""

import math

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression

from mlhops.models import metrics as M
from mlhops.models.bootstrap import bootstrap_metrics

THRESHOLD = 0.12


def test_metrics_equal_scikit_learn_on_the_same_predictions(uci):
    y, p = uci.deployment["y"].to_numpy(), uci.deployment["p"].to_numpy()
    got = M.classification_metrics(y, p, THRESHOLD)
    pred = (p >= THRESHOLD).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    assert got["auroc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert got["auprc"] == pytest.approx(skm.average_precision_score(y, p), abs=1e-12)
    assert got["brier"] == pytest.approx(skm.brier_score_loss(y, p), abs=1e-12)
    assert got["sensitivity"] == pytest.approx(skm.recall_score(y, pred))
    assert got["ppv"] == pytest.approx(skm.precision_score(y, pred))
    assert got["specificity"] == pytest.approx(tn / (tn + fp))
    assert got["npv"] == pytest.approx(tn / (tn + fn))


def test_ece_is_the_size_weighted_gap_of_the_uniform_calibration_curve(uci):
    y, p = uci.deployment["y"].to_numpy(), uci.deployment["p"].to_numpy()
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    counts = np.histogram(p, bins=np.linspace(0, 1, 11))[0]
    expected = np.sum(counts[counts > 0] / y.size * np.abs(prob_true - prob_pred))
    assert M.ece(y, p, 10) == pytest.approx(expected, abs=1e-9)


def test_calibration_slope_and_intercept_match_an_unpenalised_logistic_fit(uci):
    y, p = uci.deployment["y"].to_numpy(), uci.deployment["p"].to_numpy()
    lp = M.logit(p).reshape(-1, 1)
    ref = LogisticRegression(penalty=None, tol=1e-10, max_iter=1000).fit(lp, y)
    slope, intercept = M.calibration_slope_intercept(y, p)
    assert slope == pytest.approx(ref.coef_[0][0], rel=1e-5)
    # Recalibrating the scores by their own intercept makes the mean risk equal the event rate.
    adjusted = 1 / (1 + np.exp(-(lp.ravel() + intercept)))
    assert adjusted.mean() == pytest.approx(y.mean(), abs=1e-6)


def test_label_metrics_are_nan_when_a_window_has_one_class():
    got = M.classification_metrics(np.zeros(20, dtype=int), np.linspace(0, 1, 20), 0.5)
    assert math.isnan(got["auroc"]) and math.isnan(got["auprc"]) and math.isnan(got["sensitivity"])
    assert got["specificity"] == pytest.approx(0.5)


def test_bootstrap_intervals_cover_the_population_value_at_their_nominal_rate(uci):
    y, p = uci.deployment["y"].to_numpy(), uci.deployment["p"].to_numpy()
    truth = M.classification_metrics(y, p, THRESHOLD)
    rng = np.random.default_rng(11)
    windows = 60
    hits = {k: 0 for k in ("auroc", "sensitivity", "brier", "ece", "calibration_slope")}
    for w in range(windows):
        idx = rng.choice(y.size, 800, replace=False)
        est = bootstrap_metrics(y[idx], p[idx], THRESHOLD, replicates=150, confidence=0.9, seed=w)
        for k in hits:
            hits[k] += est[k].covers(truth[k])
    # ECE is biased upward in small windows, so its interval is checked to exist, not to cover.
    for k in ("auroc", "sensitivity", "brier", "calibration_slope"):
        assert hits[k] / windows >= 0.8, (k, hits[k])


def test_bootstrap_reports_counts_and_is_reproducible_with_its_seed(uci):
    d = uci.deployment.iloc[:1000]
    a = bootstrap_metrics(d["y"], d["p"], THRESHOLD, replicates=50, seed=3)
    b = bootstrap_metrics(d["y"], d["p"], THRESHOLD, replicates=50, seed=3)
    assert a == b
    assert a["auroc"].n == 1000 and a["auroc"].n_positive == int(d["y"].sum())
    assert a["auroc"].ci_lower < a["auroc"].estimate < a["auroc"].ci_upper
