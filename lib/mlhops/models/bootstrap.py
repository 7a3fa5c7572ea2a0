"""Percentile bootstrap confidence intervals for every performance metric of a window."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from mlhops.models.metrics import LABEL_METRICS, classification_metrics


@dataclass(frozen=True)
class MetricEstimate:
    """One metric of one window or subgroup: point estimate, interval and the counts behind it."""

    metric: str
    estimate: float
    ci_lower: float
    ci_upper: float
    n: int
    n_positive: int

    def covers(self, value: float) -> bool:
        """Whether ``value`` lies inside the interval (False when the interval is undefined)."""
        return bool(self.ci_lower <= value <= self.ci_upper)


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval of the finite bootstrap replicates (nan when fewer than half are finite)."""
    finite = samples[np.isfinite(samples)]
    if finite.size < max(1, samples.size // 2):
        return math.nan, math.nan
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(finite, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def bootstrap_metrics(
    y: ArrayLike,
    p: ArrayLike,
    threshold: float,
    *,
    replicates: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    ece_bins: int = 10,
) -> dict[str, MetricEstimate]:
    """Point estimates of :data:`LABEL_METRICS` with percentile bootstrap intervals.

    Cases are resampled with replacement (the window's own case mix), ``replicates`` times with a
    fixed ``seed`` so a re-run gives the same intervals.
    """
    ya = np.asarray(y, dtype=np.int64).ravel()
    pa = np.asarray(p, dtype=np.float64).ravel()
    point = classification_metrics(ya, pa, threshold, ece_bins=ece_bins)
    n = int(ya.size)
    n_pos = int(ya.sum())
    draws = np.full((replicates, len(LABEL_METRICS)), np.nan)
    if n > 0:
        rng = np.random.default_rng(seed)
        for r in range(replicates):
            idx = rng.integers(0, n, n)
            m = classification_metrics(ya[idx], pa[idx], threshold, ece_bins=ece_bins)
            draws[r] = [m[k] for k in LABEL_METRICS]
    out: dict[str, MetricEstimate] = {}
    for j, name in enumerate(LABEL_METRICS):
        lo, hi = percentile_interval(draws[:, j], confidence)
        out[name] = MetricEstimate(name, point[name], lo, hi, n, n_pos)
    return out
