"""The reference profile of a model version: what later windows are compared against.

Built from the version's labelled reference cases (validation split, or the recalibration
window) and stored as JSON beside the model in MLflow. It holds aggregates only (counts,
quantiles, a score map), never case-level data.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from mlhops.models.metrics import auroc, confusion, ece
from mlhops.models.recalibration import ScoreMap, fit_score_map

# Score-distribution bins (reference quantiles) for the PSI of later windows.
SCORE_BINS = 10
# Floor for empty bins in the PSI (avoids log(0)).
PSI_EPS = 1e-4


@dataclass(frozen=True)
class ReferenceProfile:
    """Aggregates of the reference cases of one model version."""

    threshold: float
    n: int
    n_positive: int
    tp: int
    fp: int
    tn: int
    fn: int
    brier_mean: float
    brier_std: float
    residual_mean: float
    residual_std: float
    error_rate: float
    auroc: float
    ece: float
    score_edges: tuple[float, ...]
    score_fractions: tuple[float, ...]
    calibrator: ScoreMap

    @property
    def prevalence(self) -> float:
        return self.n_positive / self.n if self.n else math.nan

    def confusion_counts(self) -> np.ndarray:
        """Joint counts ``[[pred0&y0, pred0&y1], [pred1&y0, pred1&y1]]`` (rows: prediction)."""
        return np.array([[self.tn, self.fn], [self.fp, self.tp]], dtype=np.int64)

    def to_json(self) -> str:
        data = asdict(self)
        data["calibrator"] = self.calibrator.to_dict()
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ReferenceProfile:
        data: dict[str, Any] = json.loads(text)
        data["calibrator"] = ScoreMap.from_dict(data["calibrator"])
        data["score_edges"] = tuple(data["score_edges"])
        data["score_fractions"] = tuple(data["score_fractions"])
        return cls(**data)


def build_profile(y: ArrayLike, p: ArrayLike, threshold: float, *, ece_bins: int = 10) -> ReferenceProfile:
    """Profile of labelled reference cases scored by the model at ``threshold``."""
    ya = np.asarray(y, dtype=np.int64).ravel()
    pa = np.asarray(p, dtype=np.float64).ravel()
    tp, fp, tn, fn = confusion(ya, pa, threshold)
    loss = (pa - ya) ** 2
    edges = np.unique(np.quantile(pa, np.linspace(0, 1, SCORE_BINS + 1)[1:-1]))
    fractions = np.bincount(np.searchsorted(edges, pa, side="right"), minlength=edges.size + 1) / pa.size
    return ReferenceProfile(
        threshold=float(threshold),
        n=int(ya.size),
        n_positive=int(ya.sum()),
        tp=tp, fp=fp, tn=tn, fn=fn,
        brier_mean=float(loss.mean()),
        brier_std=float(loss.std(ddof=1)),
        residual_mean=float(np.mean(ya - pa)),
        residual_std=float(np.std(ya - pa, ddof=1)),
        error_rate=(fp + fn) / ya.size,
        auroc=auroc(ya, pa),
        ece=ece(ya, pa, ece_bins),
        score_edges=tuple(float(e) for e in edges),
        score_fractions=tuple(float(f) for f in fractions),
        calibrator=fit_score_map(ya, pa, "isotonic"),
    )


def score_psi(profile: ReferenceProfile, p: ArrayLike) -> float:
    """Population stability index of a window's scores against the reference score bins."""
    pa = np.asarray(p, dtype=np.float64).ravel()
    if pa.size == 0:
        return math.nan
    edges = np.asarray(profile.score_edges)
    expected = np.maximum(np.asarray(profile.score_fractions), PSI_EPS)
    actual = np.bincount(np.searchsorted(edges, pa, side="right"), minlength=edges.size + 1) / pa.size
    actual = np.maximum(actual, PSI_EPS)
    return float(np.sum((actual - expected) * np.log(actual / expected)))
