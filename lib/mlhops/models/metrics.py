"""Binary classification metrics on one set of predictions (pure numpy, equal to scikit-learn).

Every function takes ``y`` (0/1 labels) and ``p`` (predicted probabilities of class 1). A metric
that is undefined for the data (e.g. AUROC with one class present) is ``nan``, never a guess.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

# Probabilities are clipped this far from 0 and 1 before taking logits.
LOGIT_EPS = 1e-12
# Newton iterations for the two-parameter calibration fits (converges in < 10 on real data).
NEWTON_MAX_ITER = 50
NEWTON_TOL = 1e-10

# Metrics computed by :func:`classification_metrics`, in output order.
LABEL_METRICS: tuple[str, ...] = (
    "auroc",
    "auprc",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "brier",
    "ece",
    "calibration_slope",
    "calibration_intercept",
    "prevalence",
    "mean_score",
)

# Metrics where a larger value is better (used for disparity flags).
HIGHER_IS_BETTER: frozenset[str] = frozenset({"auroc", "auprc", "sensitivity", "specificity", "ppv", "npv"})


def _arrays(y: ArrayLike, p: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    ya = np.asarray(y, dtype=np.int64).ravel()
    pa = np.asarray(p, dtype=np.float64).ravel()
    if ya.shape != pa.shape:
        raise ValueError(f"labels and scores differ in length ({ya.size} vs {pa.size})")
    return ya, pa


def _safe_div(num: float, den: float) -> float:
    return float(num) / float(den) if den > 0 else math.nan


def auroc(y: ArrayLike, p: ArrayLike) -> float:
    """Area under the ROC curve (Mann-Whitney with mid-ranks for ties)."""
    ya, pa = _arrays(y, p)
    n_pos = int(ya.sum())
    n_neg = ya.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(pa, kind="mergesort")
    sorted_p = pa[order]
    ranks = np.empty(pa.size, dtype=np.float64)
    # Mid-ranks: every tied block gets the mean of its 1-based positions.
    _, first, counts = np.unique(sorted_p, return_index=True, return_counts=True)
    mid = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(mid, counts)
    return float((ranks[ya == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auprc(y: ArrayLike, p: ArrayLike) -> float:
    """Average precision (step-wise area under the precision-recall curve, as scikit-learn)."""
    ya, pa = _arrays(y, p)
    n_pos = int(ya.sum())
    if n_pos == 0:
        return math.nan
    order = np.argsort(-pa, kind="mergesort")
    ys = ya[order]
    ps = pa[order]
    # Last index of each distinct score (descending): one PR point per threshold.
    distinct = np.where(np.diff(ps))[0]
    idx = np.r_[distinct, ys.size - 1]
    tps = np.cumsum(ys)[idx]
    fps = (idx + 1) - tps
    precision = tps / (tps + fps)
    recall = tps / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def confusion(y: ArrayLike, p: ArrayLike, threshold: float) -> tuple[int, int, int, int]:
    """``(tp, fp, tn, fn)`` with decision ``p >= threshold``."""
    ya, pa = _arrays(y, p)
    pred = pa >= threshold
    tp = int(np.sum(pred & (ya == 1)))
    fp = int(np.sum(pred & (ya == 0)))
    tn = int(np.sum(~pred & (ya == 0)))
    fn = int(np.sum(~pred & (ya == 1)))
    return tp, fp, tn, fn


def threshold_metrics(y: ArrayLike, p: ArrayLike, threshold: float) -> dict[str, float]:
    """Sensitivity, specificity, PPV and NPV at the operating threshold."""
    tp, fp, tn, fn = confusion(y, p, threshold)
    return {
        "sensitivity": _safe_div(tp, tp + fn),
        "specificity": _safe_div(tn, tn + fp),
        "ppv": _safe_div(tp, tp + fp),
        "npv": _safe_div(tn, tn + fn),
    }


def brier(y: ArrayLike, p: ArrayLike) -> float:
    """Mean squared difference between probability and outcome."""
    ya, pa = _arrays(y, p)
    return float(np.mean((pa - ya) ** 2)) if ya.size else math.nan


def ece(y: ArrayLike, p: ArrayLike, bins: int = 10) -> float:
    """Expected calibration error over ``bins`` equal-width bins of [0, 1] (weighted by bin size)."""
    ya, pa = _arrays(y, p)
    if ya.size == 0:
        return math.nan
    b = np.clip((pa * bins).astype(np.int64), 0, bins - 1)
    counts = np.bincount(b, minlength=bins)
    sum_y = np.bincount(b, weights=ya, minlength=bins)
    sum_p = np.bincount(b, weights=pa, minlength=bins)
    return float(np.sum(np.abs(sum_y - sum_p)) / ya.size)


def logit(p: ArrayLike) -> NDArray[np.float64]:
    """Log-odds of clipped probabilities."""
    pa = np.clip(np.asarray(p, dtype=np.float64), LOGIT_EPS, 1.0 - LOGIT_EPS)
    return np.log(pa) - np.log1p(-pa)


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-z))


def fit_logistic(x: NDArray[np.float64], y: NDArray[np.int64], *, offset: NDArray[np.float64] | None = None,
                 fit_slope: bool = True) -> tuple[float, float]:
    """Unpenalised logistic regression ``y ~ a + b*x (+ offset)`` by Newton-Raphson.

    Returns ``(a, b)``; with ``fit_slope=False`` only ``a`` is fitted and ``b`` is 0. Either
    parameter is ``nan`` when the fit does not exist (one class, or perfect separation).
    """
    if y.size == 0 or y.min() == y.max():
        return math.nan, math.nan
    off = offset if offset is not None else np.zeros_like(x)
    design = np.column_stack([np.ones_like(x), x]) if fit_slope else np.ones((x.size, 1))
    beta = np.zeros(design.shape[1])
    for _ in range(NEWTON_MAX_ITER):
        mu = _sigmoid(design @ beta + off)
        w = mu * (1.0 - mu)
        grad = design.T @ (y - mu)
        hess = (design * w[:, None]).T @ design
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return math.nan, math.nan
        beta = beta + step
        if not np.all(np.isfinite(beta)):
            return math.nan, math.nan
        if np.max(np.abs(step)) < NEWTON_TOL:
            break
    return (float(beta[0]), float(beta[1])) if fit_slope else (float(beta[0]), 0.0)


def calibration_slope_intercept(y: ArrayLike, p: ArrayLike) -> tuple[float, float]:
    """Calibration slope (``y ~ a + b*logit(p)``) and calibration-in-the-large intercept.

    The intercept is fitted with ``logit(p)`` as an offset (slope fixed at 1), so a perfectly
    calibrated model has slope 1 and intercept 0.
    """
    ya, pa = _arrays(y, p)
    lp = logit(pa)
    _, slope = fit_logistic(lp, ya)
    intercept, _ = fit_logistic(lp, ya, offset=lp, fit_slope=False)
    return slope, intercept


def classification_metrics(
    y: ArrayLike, p: ArrayLike, threshold: float, *, ece_bins: int = 10
) -> dict[str, float]:
    """All of :data:`LABEL_METRICS` for one set of predictions."""
    ya, pa = _arrays(y, p)
    slope, intercept = calibration_slope_intercept(ya, pa)
    out = {
        "auroc": auroc(ya, pa),
        "auprc": auprc(ya, pa),
        **threshold_metrics(ya, pa, threshold),
        "brier": brier(ya, pa),
        "ece": ece(ya, pa, ece_bins),
        "calibration_slope": slope,
        "calibration_intercept": intercept,
        "prevalence": float(ya.mean()) if ya.size else math.nan,
        "mean_score": float(pa.mean()) if pa.size else math.nan,
    }
    return {k: out[k] for k in LABEL_METRICS}
