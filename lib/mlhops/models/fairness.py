"""Performance per subgroup and disparities between subgroups, with small-cell suppression.

A group is reported only when it has at least ``min_group_size`` cases and at least
``min_cell_size`` positives and negatives, and when the groups left out still form such a cell
together (complementary suppression); otherwise it is left out of every result (its name
included). Suppressed groups are also excluded from the choice of reference group.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from mlhops.models.bootstrap import MetricEstimate, bootstrap_metrics

# Disparity metrics: equal opportunity (TPR), predictive parity (PPV), specificity,
# discrimination (AUROC) and calibration by group (ECE, calibration-in-the-large, Brier).
DISPARITY_METRICS: tuple[str, ...] = (
    "sensitivity", "specificity", "ppv", "npv", "auroc", "ece", "calibration_intercept", "brier",
)
_HIGHER_BETTER = {"sensitivity", "specificity", "ppv", "npv", "auroc"}
_LOWER_BETTER = {"ece", "brier"}


@dataclass(frozen=True)
class GroupResult:
    """The metrics of one reportable subgroup."""

    attribute: str
    group: str
    metrics: dict[str, MetricEstimate]

    @property
    def n(self) -> int:
        return next(iter(self.metrics.values())).n


@dataclass(frozen=True)
class Disparity:
    """A subgroup's metric against the reference group's (difference = group - reference)."""

    attribute: str
    group: str
    reference_group: str
    metric: str
    group_value: float
    reference_value: float
    difference: float
    ratio: float
    group_ci_lower: float
    group_ci_upper: float
    n: int
    flagged: bool


def reportable_groups(
    values: np.ndarray, y: np.ndarray, min_group_size: int, min_cell_size: int
) -> list[str]:
    """Groups of ``values`` safe to report (sorted), using labels ``y`` for cell sizes.

    A group is safe with at least ``min_group_size`` cases and ``min_cell_size`` positives and
    negatives. Complementary suppression: the overall window is published too, so the groups left
    out must together form a safe cell as well (else overall minus the published groups gives
    them away); while they do not, the smallest published group is left out with them.
    """
    sizes = {}
    for g in np.unique(values):
        mask = values == g
        sizes[str(g)] = (int(mask.sum()), int(y[mask].sum()))

    def safe(n: int, n_pos: int) -> bool:
        return n >= min_group_size and min(n_pos, n - n_pos) >= min_cell_size

    shown = [g for g, (n, n_pos) in sizes.items() if safe(n, n_pos)]
    hidden = [g for g in sizes if g not in shown]
    while hidden and shown:
        n_hidden = sum(sizes[g][0] for g in hidden)
        if safe(n_hidden, sum(sizes[g][1] for g in hidden)):
            break
        smallest = min(shown, key=lambda g: (sizes[g][0], g))
        shown.remove(smallest)
        hidden.append(smallest)
    return sorted(shown)


def subgroup_metrics(
    y: ArrayLike,
    p: ArrayLike,
    groups: Mapping[str, Sequence[str] | np.ndarray],
    threshold: float,
    *,
    min_group_size: int,
    min_cell_size: int,
    replicates: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    ece_bins: int = 10,
) -> list[GroupResult]:
    """Bootstrap metrics for every reportable group of every attribute in ``groups``."""
    ya = np.asarray(y, dtype=np.int64).ravel()
    pa = np.asarray(p, dtype=np.float64).ravel()
    results: list[GroupResult] = []
    for attribute, raw in groups.items():
        values = np.asarray(raw, dtype=object).astype(str)
        for g in reportable_groups(values, ya, min_group_size, min_cell_size):
            mask = values == g
            m = bootstrap_metrics(
                ya[mask], pa[mask], threshold,
                replicates=replicates, confidence=confidence, seed=seed, ece_bins=ece_bins,
            )
            results.append(GroupResult(attribute, g, m))
    return results


def _flag(metric: str, diff: float, ratio: float, est: MetricEstimate, ref: float,
          max_difference: float, min_ratio: float) -> bool:
    if math.isnan(diff):
        return False
    if metric in _HIGHER_BETTER:
        gap = diff < -max_difference or (not math.isnan(ratio) and ratio < min_ratio)
        return bool(gap and est.ci_upper < ref)
    if metric in _LOWER_BETTER:
        return bool(diff > max_difference and est.ci_lower > ref)
    return bool(abs(diff) > max_difference and not est.covers(ref))


def disparities(
    results: Sequence[GroupResult],
    overall: Mapping[str, MetricEstimate],
    *,
    reference: str = "largest",
    max_difference: float = 0.1,
    min_ratio: float = 0.8,
    metrics: Sequence[str] = DISPARITY_METRICS,
) -> list[Disparity]:
    """Differences and ratios of each group against the reference, flagged when material.

    A gap is flagged when it exceeds ``max_difference`` (or, for higher-is-better metrics, the
    ratio falls below ``min_ratio``) and the group's own interval excludes the reference value,
    so a small group's noise alone does not raise a flag.
    """
    out: list[Disparity] = []
    by_attr: dict[str, list[GroupResult]] = {}
    for r in results:
        by_attr.setdefault(r.attribute, []).append(r)
    for attribute, group_results in by_attr.items():
        if reference == "largest":
            ref_result = max(group_results, key=lambda r: (r.n, r.group))
            ref_name, ref_metrics = ref_result.group, ref_result.metrics
        else:
            ref_name, ref_metrics = "overall", dict(overall)
        for r in group_results:
            if r.group == ref_name:
                continue
            for metric in metrics:
                est = r.metrics[metric]
                ref = ref_metrics[metric].estimate
                diff = est.estimate - ref
                ratio = est.estimate / ref if ref not in (0.0,) and not math.isnan(ref) else math.nan
                out.append(Disparity(
                    attribute, r.group, ref_name, metric, est.estimate, ref, diff, ratio,
                    est.ci_lower, est.ci_upper, est.n,
                    _flag(metric, diff, ratio, est, ref, max_difference, min_ratio),
                ))
    return out
