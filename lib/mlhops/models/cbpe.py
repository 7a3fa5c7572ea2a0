"""Confidence-based performance estimation (CBPE, as NannyML) for windows without labels.

Assumptions, stated because the estimate is only as good as they are:
1. the reference calibrator (isotonic, fitted on the reference cases) turns scores into true
   probabilities, i.e. P(y=1 | score) is the same in the window as in the reference
   (covariate shift only; no concept drift, no label shift that changes P(y | x));
2. cases are independent.
Under these, each case contributes its calibrated probability to the expected confusion
matrix; the interval is the spread of the realized metric when labels are drawn from those
probabilities (so it states sampling uncertainty, not violations of the assumptions).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from mlhops.models.bootstrap import MetricEstimate, percentile_interval
from mlhops.models.metrics import auroc, auprc, brier, threshold_metrics
from mlhops.models.recalibration import ScoreMap

# Metrics CBPE estimates (calibration metrics are 0 by assumption and so not estimated).
CBPE_METRICS: tuple[str, ...] = (
    "auroc", "auprc", "sensitivity", "specificity", "ppv", "npv", "brier", "prevalence",
)


def _safe(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


def expected_metrics(p: ArrayLike, p_cal: ArrayLike, threshold: float) -> dict[str, float]:
    """Expected metrics of scores ``p`` when outcomes are Bernoulli(``p_cal``)."""
    pa = np.asarray(p, dtype=np.float64).ravel()
    qa = np.clip(np.asarray(p_cal, dtype=np.float64).ravel(), 0.0, 1.0)
    if pa.size == 0:
        return {k: math.nan for k in CBPE_METRICS}
    pred = pa >= threshold
    tp, fp = float(qa[pred].sum()), float((1 - qa[pred]).sum())
    fn, tn = float(qa[~pred].sum()), float((1 - qa[~pred]).sum())
    pos, neg = tp + fn, fp + tn
    order = np.argsort(-pa, kind="mergesort")
    ps, qs = pa[order], qa[order]
    idx = np.r_[np.where(np.diff(ps))[0], ps.size - 1]
    ctp = np.cumsum(qs)[idx]
    cfp = np.cumsum(1 - qs)[idx]
    tpr = np.r_[0.0, ctp / pos] if pos > 0 else None
    fpr = np.r_[0.0, cfp / neg] if neg > 0 else None
    est_auroc = float(np.trapz(tpr, fpr)) if tpr is not None and fpr is not None else math.nan
    est_auprc = float(np.sum(np.diff(tpr) * (ctp / (ctp + cfp)))) if tpr is not None else math.nan
    return {
        "auroc": est_auroc,
        "auprc": est_auprc,
        "sensitivity": _safe(tp, pos),
        "specificity": _safe(tn, neg),
        "ppv": _safe(tp, tp + fp),
        "npv": _safe(tn, tn + fn),
        "brier": float(np.mean(qa - 2 * qa * pa + pa**2)),
        "prevalence": float(qa.mean()),
    }


def cbpe_estimates(
    p: ArrayLike,
    calibrator: ScoreMap,
    threshold: float,
    *,
    replicates: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, MetricEstimate]:
    """CBPE point estimates with intervals from labels simulated under the assumptions."""
    pa = np.asarray(p, dtype=np.float64).ravel()
    qa = np.clip(calibrator.apply(pa), 0.0, 1.0)
    point = expected_metrics(pa, qa, threshold)
    draws = np.full((replicates, len(CBPE_METRICS)), np.nan)
    rng = np.random.default_rng(seed)
    if pa.size:
        for r in range(replicates):
            ys = (rng.random(pa.size) < qa).astype(np.int64)
            realized = {
                "auroc": auroc(ys, pa),
                "auprc": auprc(ys, pa),
                **threshold_metrics(ys, pa, threshold),
                "brier": brier(ys, pa),
                "prevalence": float(ys.mean()),
            }
            draws[r] = [realized[k] for k in CBPE_METRICS]
    n_pos = int(round(float(qa.sum())))
    out = {}
    for j, name in enumerate(CBPE_METRICS):
        lo, hi = percentile_interval(draws[:, j], confidence)
        out[name] = MetricEstimate(name, point[name], lo, hi, int(pa.size), n_pos)
    return out
