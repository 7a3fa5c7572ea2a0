"""Champion vs challenger: paired differences by person and the declared promotion rule."""

from __future__ import annotations

import numpy as np
import pytest

from mlhops.config.stages import ModelFairnessSettings, ModelPromotionSettings
from mlhops.models.comparison import (
    INSUFFICIENT, KEEP, PROMOTE, REJECT, PairedCases, compare, decide, paired_differences,
)
from mlhops.models.metrics import auroc

RULE = ModelPromotionSettings(min_cases=200, min_positives=20, replicates=200)
FAIR = ModelFairnessSettings(min_group_size=50, min_cell_size=11)


def _population(n: int = 1200, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outcomes from a known risk, a noisy score of it, and person ids (two visits each)."""
    rng = np.random.default_rng(seed)
    risk = 1 / (1 + np.exp(-rng.normal(-1.5, 1.2, n)))
    y = (rng.random(n) < risk).astype(np.int64)
    persons = np.repeat(np.arange(n // 2), 2).astype(str)
    return y, risk, persons


def _cases(y, a, b, persons, *, threshold=0.3, subgroups=None) -> PairedCases:
    return PairedCases(y, a, b, (a >= threshold).astype(np.int64), (b >= threshold).astype(np.int64), persons,
                       windows=4, subgroups=subgroups or {})


def _decide(cases: PairedCases, rule: ModelPromotionSettings = RULE):
    c = compare(cases, rule, FAIR, confidence=0.95, seed=1, ece_bins=10)
    return c, decide(c, rule)


def test_identical_versions_differ_by_nothing():
    y, risk, persons = _population()
    d = paired_differences(_cases(y, risk, risk, persons), replicates=100, confidence=0.95, seed=0, ece_bins=10)
    for metric in ("auroc", "brier", "ece"):
        assert (d[metric].difference, d[metric].ci_lower, d[metric].ci_upper) == (0.0, 0.0, 0.0)


def test_a_monotone_recalibration_keeps_the_auroc_exactly():
    y, risk, persons = _population()
    noisy = np.clip(risk + np.random.default_rng(3).normal(0, 0.15, y.size), 0.001, 0.999)
    d = paired_differences(_cases(y, noisy, noisy ** 0.5, persons), replicates=100, confidence=0.95, seed=0,
                           ece_bins=10)
    assert d["auroc"].difference == pytest.approx(0.0, abs=1e-12)
    assert d["auroc"].ci_lower == pytest.approx(0.0, abs=1e-12)
    assert d["brier"].difference != 0.0


def test_intervals_resample_persons_so_repeated_visits_do_not_narrow_them():
    y, risk, _ = _population(600)
    rng = np.random.default_rng(5)
    a = np.clip(risk + rng.normal(0, 0.2, y.size), 0.001, 0.999)
    b = np.clip(risk + rng.normal(0, 0.2, y.size), 0.001, 0.999)
    # The same 600 cases, each seen five times: as 3,000 people, or as the 600 people they are.
    rep = lambda v: np.repeat(v, 5)  # noqa: E731
    as_visits = paired_differences(_cases(rep(y), rep(a), rep(b), np.arange(3000).astype(str)),
                                   replicates=300, confidence=0.95, seed=0, ece_bins=10)["auroc"]
    as_persons = paired_differences(_cases(rep(y), rep(a), rep(b), rep(np.arange(600).astype(str))),
                                    replicates=300, confidence=0.95, seed=0, ece_bins=10)["auroc"]
    assert as_visits.difference == as_persons.difference
    width = lambda d: d.ci_upper - d.ci_lower  # noqa: E731
    assert width(as_persons) > 1.7 * width(as_visits)  # about sqrt(5) wider


def test_too_few_cases_is_insufficient_evidence_and_says_how_many_are_needed():
    y, risk, persons = _population(150)
    _, d = _decide(_cases(y, risk, risk, persons))
    assert d.decision == INSUFFICIENT
    assert "150 paired held-out case(s)" in d.reason and "needs 200" in d.reason


def test_a_challenger_clearly_worse_is_rejected():
    y, risk, persons = _population()
    noise = np.random.default_rng(2).random(y.size)
    c, d = _decide(_cases(y, risk, noise, persons))
    assert c.differences["auroc"].ci_upper < -RULE.auroc_margin
    assert d.decision == REJECT and "worse beyond the margin" in d.reason


def test_a_better_challenger_is_promoted_with_its_evidence_in_the_reason():
    y, risk, persons = _population()
    rng = np.random.default_rng(4)
    champion = np.clip(risk + rng.normal(0, 0.25, y.size), 0.001, 0.999)
    challenger = np.clip(risk + rng.normal(0, 0.05, y.size), 0.001, 0.999)
    c, d = _decide(_cases(y, champion, challenger, persons))
    assert auroc(y, challenger) > auroc(y, champion)
    assert c.differences["auroc"].ci_lower > 0
    assert d.decision == PROMOTE
    assert "non-inferior and better" in d.reason and "AUROC" in d.reason and "Brier" in d.reason


def test_worse_calibration_blocks_promotion_and_is_named():
    y, risk, persons = _population()
    inflated = np.clip(risk * 1.8, 0.001, 0.999)  # same ranking, far too high
    c, d = _decide(_cases(y, risk, inflated, persons))
    assert c.differences["ece"].difference > RULE.max_ece_increase
    assert d.decision == KEEP and "calibration worse" in d.reason and "Brier score may be worse" in d.reason


def test_equal_discrimination_without_gain_keeps_the_champion():
    y, risk, persons = _population()
    _, d = _decide(_cases(y, risk, risk, persons))
    assert d.decision == KEEP and "not better" in d.reason


def test_a_widened_fairness_gap_blocks_promotion():
    y, risk, persons = _population(2000)
    sex = np.where(np.arange(y.size) % 2 == 0, "female", "male")
    rng = np.random.default_rng(6)
    champion = np.clip(risk + rng.normal(0, 0.25, y.size), 0.001, 0.999)
    challenger = np.clip(risk + rng.normal(0, 0.05, y.size), 0.001, 0.999)
    challenger_decisions = (challenger >= 0.3).astype(np.int64)
    challenger_decisions[(sex == "female") & (y == 1)] = 0  # the challenger misses every woman
    cases = PairedCases(y, champion, challenger, (champion >= 0.3).astype(np.int64), challenger_decisions, persons,
                        windows=4, subgroups={"sex": sex})
    c, d = _decide(cases)
    gap = c.fairness[0]
    assert (gap.attribute, gap.groups) == ("sex", 2) and gap.challenger > gap.champion + 0.4
    assert gap.change_lower > 0.3  # the paired interval of the change excludes no change
    assert d.decision == KEEP and "sex sensitivity gap widened" in d.reason and "more than 0.050" in d.reason


def test_groups_below_the_small_cell_rule_are_left_out_of_the_fairness_check():
    y, risk, persons = _population()
    tiny = np.where(np.arange(y.size) < 30, "small", "large")
    c, _ = _decide(_cases(y, risk, risk, persons, subgroups={"site": tiny}))
    assert c.fairness == ()
