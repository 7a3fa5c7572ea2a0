"""Champion vs challenger on the same held-out cases: paired differences and a declared decision rule.

Both versions scored the same visits (the challenger in shadow). The differences
(challenger - champion) in AUROC, Brier score and ECE get percentile intervals from a paired
bootstrap that resamples *persons*, so a patient's visits stay together and the two models
always see the same resampled cases. Subgroup fairness compares the sensitivity gap (largest
minus smallest reportable group) of each version at its own operating threshold.

The rule (``models.promotion``) is declared in configuration before any comparison runs:

1. at least ``min_cases`` paired cases and ``min_positives`` positives, else *insufficient evidence*;
2. a challenger clearly worse (the AUROC difference's upper bound below ``-auroc_margin``) is
   *rejected* (when ``reject_inferior``);
3. *promote* only when it is non-inferior on discrimination (lower bound above ``-auroc_margin``),
   not worse on Brier score (upper bound below ``brier_margin``), not worse calibrated (ECE increase
   at most ``max_ece_increase``), no less fair (no attribute's sensitivity gap widened by more than
   ``max_fairness_gap_increase``: the point estimate decides, conservatively, and the reason gives
   its paired interval) and better on AUROC or Brier score;
4. otherwise *keep the champion*, with every failed condition named.

Aggregates only: no case-level value leaves this module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from mlhops.config.stages import ModelFairnessSettings, ModelPromotionSettings
from mlhops.models.bootstrap import percentile_interval
from mlhops.models.fairness import reportable_groups
from mlhops.models.metrics import auroc, brier, ece

PROMOTE = "promote"
KEEP = "keep_champion"
REJECT = "reject_challenger"
INSUFFICIENT = "insufficient_evidence"
COMPARED_METRICS = ("auroc", "brier", "ece")
_LABELS = {"auroc": "AUROC", "brier": "Brier score", "ece": "ECE"}


@dataclass(frozen=True, eq=False)
class PairedCases:
    """Labelled cases scored by both versions, in a stable order (arrays of equal length)."""

    labels: np.ndarray
    champion_scores: np.ndarray
    challenger_scores: np.ndarray
    champion_decisions: np.ndarray
    challenger_decisions: np.ndarray
    persons: np.ndarray
    windows: int
    subgroups: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.labels.size)

    @property
    def n_positive(self) -> int:
        return int(self.labels.sum())


@dataclass(frozen=True)
class Difference:
    """One metric of both versions and the paired difference (challenger - champion) with its interval."""

    metric: str
    champion: float
    challenger: float
    difference: float
    ci_lower: float
    ci_upper: float


@dataclass(frozen=True)
class FairnessGap:
    """Largest minus smallest reportable group's sensitivity, per version, for one attribute, and
    the paired-bootstrap interval of its change (challenger - champion)."""

    attribute: str
    groups: int
    champion: float
    challenger: float
    change_lower: float = math.nan
    change_upper: float = math.nan


@dataclass(frozen=True)
class Comparison:
    """Everything the decision saw."""

    n: int
    n_positive: int
    n_persons: int
    windows: int
    differences: Mapping[str, Difference]
    fairness: tuple[FairnessGap, ...]


@dataclass(frozen=True)
class Decision:
    """The rule's outcome and why."""

    decision: str
    reason: str


def _metric_values(y: np.ndarray, p: np.ndarray, ece_bins: int) -> np.ndarray:
    return np.array([auroc(y, p), brier(y, p), ece(y, p, ece_bins)])


def _person_blocks(persons: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Case order grouped by person, each person's first position in it, and their case counts."""
    order = np.argsort(persons, kind="stable")
    _, starts, counts = np.unique(persons[order], return_index=True, return_counts=True)
    return order, starts, counts


def _resample(order: np.ndarray, starts: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Case indices of one bootstrap replicate: persons drawn with replacement, all their cases kept."""
    pick = rng.integers(0, starts.size, starts.size)
    lens = counts[pick]
    within = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
    return order[np.repeat(starts[pick], lens) + within]


def paired_differences(
    cases: PairedCases, *, replicates: int, confidence: float, seed: int, ece_bins: int,
) -> dict[str, Difference]:
    """AUROC, Brier and ECE of both versions and their paired-bootstrap differences (by person)."""
    y, a, b = cases.labels, cases.champion_scores, cases.challenger_scores
    champ, chall = _metric_values(y, a, ece_bins), _metric_values(y, b, ece_bins)
    draws = np.full((replicates, len(COMPARED_METRICS)), np.nan)
    if cases.n:
        order, starts, counts = _person_blocks(cases.persons)
        rng = np.random.default_rng(seed)
        for r in range(replicates):
            idx = _resample(order, starts, counts, rng)
            draws[r] = _metric_values(y[idx], b[idx], ece_bins) - _metric_values(y[idx], a[idx], ece_bins)
    out = {}
    for j, metric in enumerate(COMPARED_METRICS):
        lo, hi = percentile_interval(draws[:, j], confidence)
        out[metric] = Difference(metric, float(champ[j]), float(chall[j]), float(chall[j] - champ[j]), lo, hi)
    return out


def _sensitivity_gap(y: np.ndarray, decisions: np.ndarray, groups: np.ndarray, reportable: list[str]) -> float:
    sens = []
    for g in reportable:
        positives = (groups == g) & (y == 1)
        if not positives.any():
            return math.nan
        sens.append(float(decisions[positives].mean()))
    return max(sens) - min(sens)


def fairness_gaps(cases: PairedCases, fairness: ModelFairnessSettings, *, replicates: int = 0,
                  confidence: float = 0.95, seed: int = 0) -> tuple[FairnessGap, ...]:
    """Sensitivity gaps of both versions per attribute with two or more reportable groups.

    Groups are those the evaluation reports (:func:`mlhops.models.fairness.reportable_groups`, its
    small-cell rule); attributes with fewer than two such groups are left out. With
    ``replicates``, the gap's change gets a paired-bootstrap interval (persons resampled).
    """
    y = cases.labels
    attributes = []
    for attribute, groups in sorted(cases.subgroups.items()):
        reportable = reportable_groups(groups, y, fairness.min_group_size, fairness.min_cell_size)
        if len(reportable) >= 2:
            attributes.append((attribute, groups, reportable))
    changes = np.full((replicates, len(attributes)), np.nan)
    if replicates and attributes:
        order, starts, counts = _person_blocks(cases.persons)
        rng = np.random.default_rng(seed)
        for r in range(replicates):
            idx = _resample(order, starts, counts, rng)
            for j, (_, groups, reportable) in enumerate(attributes):
                changes[r, j] = (_sensitivity_gap(y[idx], cases.challenger_decisions[idx], groups[idx], reportable)
                                 - _sensitivity_gap(y[idx], cases.champion_decisions[idx], groups[idx], reportable))
    out = []
    for j, (attribute, groups, reportable) in enumerate(attributes):
        lo, hi = percentile_interval(changes[:, j], confidence) if replicates else (math.nan, math.nan)
        out.append(FairnessGap(attribute, len(reportable),
                               _sensitivity_gap(y, cases.champion_decisions, groups, reportable),
                               _sensitivity_gap(y, cases.challenger_decisions, groups, reportable), lo, hi))
    return tuple(out)


def compare(cases: PairedCases, rule: ModelPromotionSettings, fairness: ModelFairnessSettings, *,
            confidence: float, seed: int, ece_bins: int) -> Comparison:
    """The paired comparison of one champion / challenger pair."""
    diffs = paired_differences(cases, replicates=rule.replicates, confidence=confidence, seed=seed, ece_bins=ece_bins)
    return Comparison(cases.n, cases.n_positive, int(np.unique(cases.persons).size), cases.windows, diffs,
                      fairness_gaps(cases, fairness, replicates=rule.replicates, confidence=confidence, seed=seed))


def _fmt(d: Difference) -> str:
    return f"{_LABELS[d.metric]} {d.champion:.3f} -> {d.challenger:.3f} (difference {d.difference:+.3f} [{d.ci_lower:+.3f}, {d.ci_upper:+.3f}])"


def decide(c: Comparison, rule: ModelPromotionSettings) -> Decision:
    """Apply the declared rule (see the module docstring) to a comparison."""
    if c.n < rule.min_cases or c.n_positive < rule.min_positives:
        return Decision(INSUFFICIENT, (
            f"{c.n} paired held-out case(s) with {c.n_positive} positive(s) from {c.n_persons} person(s); the rule "
            f"needs {rule.min_cases} and {rule.min_positives}: champion kept, compared again as labels arrive"))
    auc, bri, cal = c.differences["auroc"], c.differences["brier"], c.differences["ece"]
    if any(math.isnan(v) for v in (auc.ci_lower, auc.ci_upper, bri.ci_upper)):
        return Decision(INSUFFICIENT, "the paired bootstrap left the differences undefined (too few cases of a class)")
    if rule.reject_inferior and auc.ci_upper < -rule.auroc_margin:
        return Decision(REJECT, f"challenger worse beyond the margin {rule.auroc_margin:.3f}: {_fmt(auc)}")
    failed = []
    if auc.ci_lower <= -rule.auroc_margin:
        failed.append(f"non-inferiority not shown: {_fmt(auc)}, lower bound not above -{rule.auroc_margin:.3f}")
    if bri.ci_upper >= rule.brier_margin:
        failed.append(f"Brier score may be worse: {_fmt(bri)}, upper bound not below {rule.brier_margin:.3f}")
    if cal.difference > rule.max_ece_increase:
        failed.append(f"calibration worse: {_fmt(cal)}, more than {rule.max_ece_increase:.3f}")
    for g in c.fairness:
        if g.challenger - g.champion > rule.max_fairness_gap_increase:
            interval = ("interval undefined: a group lacks positives in resamples" if math.isnan(g.change_lower)
                        else f"[{g.change_lower:+.3f}, {g.change_upper:+.3f}]")
            failed.append(f"{g.attribute} sensitivity gap widened {g.champion:.3f} -> {g.challenger:.3f} "
                          f"(change {g.challenger - g.champion:+.3f}, {interval}; more than "
                          f"{rule.max_fairness_gap_increase:.3f})")
    if failed:
        return Decision(KEEP, "; ".join(failed))
    if auc.difference <= 0 and bri.difference >= 0:
        return Decision(KEEP, f"non-inferior but not better: {_fmt(auc)}; {_fmt(bri)}")
    fair = (f"; fairness gaps {', '.join(f'{g.attribute} {g.champion:.3f} -> {g.challenger:.3f}' for g in c.fairness)}"
            if c.fairness else "; fairness: no attribute with two reportable groups")
    return Decision(PROMOTE, f"non-inferior and better: {_fmt(auc)}; {_fmt(bri)}; {_fmt(cal)}{fair}")
