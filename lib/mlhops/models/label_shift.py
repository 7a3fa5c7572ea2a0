"""Black-box shift estimation (BBSE, Lipton et al. 2018) of the class prior of a window.

Under label shift (P(x | y) fixed, P(y) changes) the distribution of the model's hard
predictions in the window is ``mu = C w``, with ``C[i, j] = P_ref(pred=i, y=j)`` from the
reference confusion matrix and ``w_j = q(y=j) / p(y=j)`` the importance weights. Solving for
``w`` gives the window's prior ``q = w * p``. The interval resamples both the reference
confusion counts (multinomial) and the window's prediction counts (binomial).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mlhops.models.bootstrap import percentile_interval

# Above this condition number the reference confusion matrix cannot be inverted reliably
# (the classifier barely separates the classes); the estimate is then reported as nan.
MAX_CONDITION = 1e6


@dataclass(frozen=True)
class LabelShiftEstimate:
    """Estimated positive-class prior of a window against the reference prior."""

    reference_prior: float
    estimated_prior: float
    ci_lower: float
    ci_upper: float
    weight_negative: float
    weight_positive: float
    n_reference: int
    n_target: int
    shift_detected: bool


def solve_prior(
    joint_counts: np.ndarray, predicted_positive: float, n_target: float
) -> tuple[float, np.ndarray]:
    """Positive prior and weights from reference joint counts (rows: prediction) and window predictions."""
    c = joint_counts / joint_counts.sum()
    if np.linalg.cond(c) > MAX_CONDITION:
        return math.nan, np.array([math.nan, math.nan])
    mu = np.array([n_target - predicted_positive, predicted_positive]) / n_target
    w = np.maximum(np.linalg.solve(c, mu), 0.0)
    prior = c.sum(axis=0)  # reference P(y)
    q = w * prior
    total = q.sum()
    if total <= 0:
        return math.nan, w
    return float(q[1] / total), w


def bbse(
    joint_counts: np.ndarray,
    predicted_positive: int,
    n_target: int,
    *,
    replicates: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> LabelShiftEstimate:
    """BBSE of a window's positive prior with a bootstrap interval.

    Args:
        joint_counts: reference counts ``[[pred0&y0, pred0&y1], [pred1&y0, pred1&y1]]``.
        predicted_positive: window cases with a positive decision.
        n_target: window cases.
    """
    counts = np.asarray(joint_counts, dtype=np.float64)
    n_ref = int(counts.sum())
    ref_prior = float(counts[:, 1].sum() / n_ref)
    est, w = solve_prior(counts, predicted_positive, n_target)
    rng = np.random.default_rng(seed)
    draws = np.full(replicates, np.nan)
    flat = counts.ravel() / n_ref
    rate = predicted_positive / n_target
    for r in range(replicates):
        c_star = rng.multinomial(n_ref, flat).reshape(2, 2).astype(np.float64)
        t_star = rng.binomial(n_target, rate)
        draws[r], _ = solve_prior(c_star, t_star, n_target)
    lo, hi = percentile_interval(draws, confidence)
    detected = bool(not math.isnan(lo) and not (lo <= ref_prior <= hi))
    return LabelShiftEstimate(
        ref_prior, est, lo, hi, float(w[0]), float(w[1]), n_ref, int(n_target), detected
    )
