"""Score maps (Platt, isotonic) and a classifier wrapper that applies one to a base model.

A :class:`ScoreMap` is a monotone map from a model score to a recalibrated probability, stored
as plain numbers (JSON-able) so it can be logged, compared and re-applied anywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mlhops.models.metrics import fit_logistic, logit

Method = Literal["platt", "isotonic"]


@dataclass(frozen=True)
class ScoreMap:
    """A fitted recalibration: ``platt`` uses ``(a, b)``, ``isotonic`` the breakpoints ``x -> y``."""

    method: Method
    a: float = 0.0
    b: float = 1.0
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    def apply(self, p: ArrayLike) -> NDArray[np.float64]:
        """Recalibrated probabilities for scores ``p``."""
        pa = np.asarray(p, dtype=np.float64)
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.a + self.b * logit(pa))))
        return np.interp(pa, np.asarray(self.x), np.asarray(self.y))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "a": self.a, "b": self.b, "x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoreMap:
        return cls(data["method"], float(data["a"]), float(data["b"]), tuple(data["x"]), tuple(data["y"]))


def fit_score_map(y: ArrayLike, p: ArrayLike, method: Method) -> ScoreMap:
    """Fit a Platt (logistic on the score's log-odds) or isotonic recalibration on labelled cases.

    Raises:
        ValueError: when the cases hold a single class (nothing to calibrate against).
    """
    ya = np.asarray(y, dtype=np.int64).ravel()
    pa = np.asarray(p, dtype=np.float64).ravel()
    if ya.size == 0 or ya.min() == ya.max():
        raise ValueError("recalibration needs both outcomes among the labelled cases")
    if method == "platt":
        a, b = fit_logistic(logit(pa), ya)
        if math.isnan(a) or math.isnan(b):
            raise ValueError("Platt scaling did not converge (scores separate the outcomes)")
        return ScoreMap("platt", a=a, b=b)
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(pa, ya)
    return ScoreMap(
        "isotonic",
        x=tuple(float(v) for v in iso.X_thresholds_),
        y=tuple(float(v) for v in iso.y_thresholds_),
    )


class RecalibratedClassifier:
    """A fitted binary classifier whose class-1 probability passes through a :class:`ScoreMap`.

    It keeps the scikit-learn ``predict_proba``/``predict`` contract, so scoring, MLflow and the
    evaluation code treat it like any other registered model version.
    """

    def __init__(self, base: Any, score_map: ScoreMap, threshold: float = 0.5) -> None:
        self.base = base
        self.score_map = score_map
        self.threshold = threshold
        self.classes_ = np.array([0, 1])

    def predict_proba(self, features: Any) -> NDArray[np.float64]:
        raw = np.asarray(self.base.predict_proba(features))[:, 1]
        p1 = np.clip(self.score_map.apply(raw), 0.0, 1.0)
        return np.column_stack([1.0 - p1, p1])

    def predict(self, features: Any) -> NDArray[np.int64]:
        return (self.predict_proba(features)[:, 1] >= self.threshold).astype(np.int64)
