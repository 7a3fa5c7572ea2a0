"""CBPE, BBSE label-shift estimation and subgroup fairness on real UCI predictions."""

import math

import numpy as np
import pandas as pd

from mlhops.models.cbpe import cbpe_estimates, expected_metrics
from mlhops.models.fairness import disparities, subgroup_metrics
from mlhops.models.label_shift import bbse
from mlhops.models.metrics import classification_metrics
from mlhops.models.reference import build_profile, score_psi

THRESHOLD = 0.12


def _profile(uci):
    return build_profile(uci.validation["y"], uci.validation["p"], THRESHOLD)


def test_cbpe_equals_realized_metrics_when_probabilities_are_the_outcomes(uci):
    d = uci.deployment.iloc[:3000]
    y, p = d["y"].to_numpy(), d["p"].to_numpy()
    est = expected_metrics(p, y.astype(float), THRESHOLD)
    real = classification_metrics(y, p, THRESHOLD)
    for k in ("auroc", "auprc", "sensitivity", "specificity", "ppv", "npv", "brier", "prevalence"):
        assert math.isclose(est[k], real[k], abs_tol=1e-9), k


def test_cbpe_estimates_performance_of_an_older_subpopulation_before_labels(uci):
    profile = _profile(uci)
    older = uci.deployment[uci.deployment["age"].isin(["[70-80)", "[80-90)", "[90-100)"])]
    est = cbpe_estimates(older["p"], profile.calibrator, THRESHOLD, replicates=100, seed=1)
    real = classification_metrics(older["y"], older["p"], THRESHOLD)
    for k in ("auroc", "sensitivity", "specificity", "ppv", "prevalence"):
        assert abs(est[k].estimate - real[k]) < 0.03, (k, est[k], real[k])
    assert est["auroc"].n == len(older)


def test_bbse_recovers_a_planted_prevalence_change_within_its_interval(uci):
    profile = _profile(uci)
    d = uci.deployment
    rng = np.random.default_rng(5)
    pos = d.index[d["y"] == 1].to_numpy()
    neg = d.index[d["y"] == 0].to_numpy()
    # Label shift: same P(x | y), prevalence 0.11 -> 0.25 by resampling within each class.
    target = d.loc[np.r_[rng.choice(pos, 1500), rng.choice(neg, 4500)]]
    est = bbse(profile.confusion_counts(), int((target["p"] >= THRESHOLD).sum()), len(target), seed=2)
    assert est.ci_lower <= 0.25 <= est.ci_upper
    assert abs(est.estimated_prior - 0.25) < 0.05
    assert est.shift_detected
    assert math.isclose(est.reference_prior, profile.prevalence)


def test_bbse_finds_no_shift_in_a_window_like_the_reference(uci):
    profile = _profile(uci)
    window = uci.deployment.sample(5000, random_state=3)
    est = bbse(profile.confusion_counts(), int((window["p"] >= THRESHOLD).sum()), len(window), seed=2)
    assert est.ci_lower <= window["y"].mean() <= est.ci_upper
    assert not est.shift_detected


def test_score_psi_is_small_for_same_population_and_large_for_a_planted_shift(uci):
    profile = _profile(uci)
    same = uci.deployment["p"].to_numpy()
    assert score_psi(profile, same) < 0.02
    assert score_psi(profile, np.minimum(same * 2.0, 1.0)) > 0.25


def _groups(d: pd.DataFrame, seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(np.where(rng.random(len(d)) < 0.3, "B", "A"), index=d.index)


def test_a_subgroup_with_planted_worse_sensitivity_is_flagged(uci):
    d = uci.deployment.iloc[:20000].copy()
    group = _groups(d, 9)
    # Under-triage group B: its scores are halved, so fewer of its positives pass the threshold.
    d.loc[group == "B", "p"] = d.loc[group == "B", "p"] * 0.5
    results = subgroup_metrics(d["y"], d["p"], {"planted": group.to_numpy()}, THRESHOLD,
                               min_group_size=50, min_cell_size=11, replicates=100, seed=1)
    overall = {r.group: r.metrics for r in results}
    gaps = disparities(results, overall["A"], reference="largest")
    sens = next(g for g in gaps if g.metric == "sensitivity")
    assert (sens.group, sens.reference_group) == ("B", "A")
    assert sens.difference < -0.1 and sens.ratio < 0.8 and sens.flagged
    assert sens.difference == sens.group_value - sens.reference_value


def test_equal_groups_are_not_flagged(uci):
    d = uci.deployment.iloc[:20000]
    results = subgroup_metrics(d["y"], d["p"], {"random": _groups(d, 4).to_numpy()}, THRESHOLD,
                               min_group_size=50, min_cell_size=11, replicates=100, seed=1)
    assert not any(g.flagged for g in disparities(results, {}, reference="largest"))


def test_groups_under_the_minimum_size_never_appear_in_any_output(uci):
    d = uci.deployment.iloc[:20000]
    race = d["race"].fillna("unknown").astype(str).to_numpy()
    sizes = pd.Series(race).value_counts()
    small = set(sizes[sizes < 300].index)
    assert small  # the real table has small race groups (Asian, Other, ...)
    results = subgroup_metrics(d["y"], d["p"], {"race": race}, THRESHOLD,
                               min_group_size=300, min_cell_size=11, replicates=30, seed=1)
    for reference in ("largest", "overall"):
        overall = classification_metrics(d["y"], d["p"], THRESHOLD)
        from mlhops.models.bootstrap import MetricEstimate
        ov = {k: MetricEstimate(k, v, v, v, len(d), int(d["y"].sum())) for k, v in overall.items()}
        gaps = disparities(results, ov, reference=reference)
        named = {r.group for r in results} | {g.group for g in gaps} | {g.reference_group for g in gaps}
        assert not (named & small)
    assert {r.group for r in results} == set(sizes[sizes >= 300].index)


def test_a_lone_suppressed_group_takes_the_next_smallest_with_it(uci):
    # Overall minus the published groups must not give a suppressed group away (complementary
    # suppression): with only the smallest race group under the minimum size, the next smallest
    # is withheld too, and the two together form a cell large enough to stay hidden in.
    d = uci.deployment.iloc[:20000]
    race = d["race"].fillna("unknown").astype(str).to_numpy()
    sizes = pd.Series(race).value_counts().sort_values()
    smallest, next_smallest = sizes.index[0], sizes.index[1]
    minimum = int(sizes.iloc[0]) + 1
    assert sizes.iloc[1] >= minimum
    results = subgroup_metrics(d["y"], d["p"], {"race": race}, THRESHOLD,
                               min_group_size=minimum, min_cell_size=11, replicates=30, seed=1)
    shown = {r.group for r in results}
    assert smallest not in shown and next_smallest not in shown
    assert shown == set(sizes.index[2:])
