"""One result shape for every drift detector, univariate (from statistics) or multivariate.

A detector compares a *current* sample (one window of one slice) with a *reference* (the
configured baseline, or the previous window) and returns a :class:`DriftResult`. Drift is a
result, not an error: a detector that cannot decide (too few rows) still returns one, with
``status="insufficient_data"`` and ``drift=False``.

``DRIFT_RESULT_SCHEMA`` is the Spark schema the results take in Delta (``mlhops.drift_metrics``
for univariate tests, ``mlhops.multivariate_drift`` for multivariate ones); :func:`to_dataframe`
builds such a DataFrame from results computed on the driver.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mlhops.io.tables.monitoring import DRIFT_RESULT_SCHEMA

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

ResultStatus = Literal["ok", "insufficient_data", "error"]
RESULT_STATUSES: tuple[str, ...] = ("ok", "insufficient_data", "error")

# Name of the slice that holds the whole population (no slicing expression applied).
ALL_SLICE = "all"


@dataclass(frozen=True)
class DriftResult:
    """What one detector concluded about one feature (or feature set), window and slice.

    Attributes:
        detector: test or method name (``ks``, ``chi2``, ``psi``, ``js``, ``wasserstein``,
            ``linf``, ``mmd``, ``lsdd``, ``classifier``, ...).
        feature: the feature name, or the feature-set name for multivariate detectors.
        window_start: first instant of the current window (UTC, inclusive).
        window_end: end of the current window (UTC, exclusive): the window is ``[start, end)``.
        statistic: the test statistic or distance (None when it could not be computed).
        p_value: raw p-value, for tests that have one.
        p_value_adjusted: p-value after the multiple-testing correction across features.
        threshold: what the flag compared against (alpha for tests, a distance cut-off for
            distances such as PSI).
        drift: the flag: significant *and* at least the configured effect size.
        effect_size: a sample-size-free magnitude (KS D, Cramer's V, standardized mean
            difference, ...), so that huge windows do not alarm on trivial shifts.
        effect_size_name: what ``effect_size`` measures.
        n_reference: rows in the reference sample.
        n_current: rows in the current sample.
        slice: slicing expression name (``all`` = whole population).
        slice_value: the slice's value (``all`` for the whole population).
        reference: what the window was compared with: ``baseline``, ``previous`` or a name.
        granularity: window granularity (``day``, ``week``, ``month``, ``cumulative``, ...).
        features: members of the feature set (multivariate detectors; empty otherwise).
        status: ``ok``, ``insufficient_data`` (minimum-sample rule) or ``error``.
        extra: further numeric metrics (distances, degrees of freedom, run time ...); never
            patient values.
    """

    detector: str
    feature: str
    window_start: dt.datetime
    window_end: dt.datetime
    statistic: float | None
    p_value: float | None = None
    p_value_adjusted: float | None = None
    threshold: float | None = None
    drift: bool = False
    effect_size: float | None = None
    effect_size_name: str | None = None
    n_reference: int = 0
    n_current: int = 0
    slice: str = ALL_SLICE
    slice_value: str = ALL_SLICE
    reference: str = "baseline"
    granularity: str = "day"
    features: tuple[str, ...] = ()
    status: ResultStatus = "ok"
    extra: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in RESULT_STATUSES:
            raise ValueError(f"DriftResult.status must be one of {RESULT_STATUSES}, got {self.status!r}")
        if self.window_end < self.window_start:
            raise ValueError("DriftResult window_end must not be before window_start")
        if self.p_value is not None and not 0.0 <= self.p_value <= 1.0:
            raise ValueError("DriftResult.p_value must be within [0, 1]")

    def with_adjusted(self, p_value_adjusted: float | None, drift: bool) -> DriftResult:
        """A copy with the corrected p-value and the resulting flag."""
        return dataclasses.replace(self, p_value_adjusted=p_value_adjusted, drift=drift)

    def to_row(self) -> dict[str, Any]:
        """This result as a plain dict matching :data:`DRIFT_RESULT_SCHEMA`."""
        return {
            "detector": self.detector,
            "feature": self.feature,
            "features": list(self.features),
            "granularity": self.granularity,
            "window_start": _as_datetime(self.window_start),
            "window_end": _as_datetime(self.window_end),
            "slice": self.slice,
            "slice_value": self.slice_value,
            "reference": self.reference,
            "statistic": _finite(self.statistic),
            "p_value": _finite(self.p_value),
            "p_value_adjusted": _finite(self.p_value_adjusted),
            "threshold": _finite(self.threshold),
            "drift": bool(self.drift),
            "effect_size": _finite(self.effect_size),
            "effect_size_name": self.effect_size_name,
            "n_reference": int(self.n_reference),
            "n_current": int(self.n_current),
            "status": self.status,
            "extra": {str(k): float(v) for k, v in self.extra.items() if _finite(float(v)) is not None},
        }


def _as_datetime(value: dt.datetime | dt.date) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is None else value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return dt.datetime(value.year, value.month, value.day)


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def driver_row(result: DriftResult) -> dict[str, Any]:
    """:meth:`DriftResult.to_row` for ``createDataFrame`` on the driver: the window bounds as
    UTC-aware datetimes, since PySpark reads naive ones in the Python process's local zone."""
    row = result.to_row()
    for key in ("window_start", "window_end"):
        row[key] = row[key].replace(tzinfo=dt.timezone.utc)
    return row


def to_dataframe(spark: SparkSession, results: Iterable[DriftResult]) -> DataFrame:
    """A DataFrame with :data:`DRIFT_RESULT_SCHEMA` holding ``results`` (computed on the driver)."""
    return spark.createDataFrame([driver_row(r) for r in results], schema=DRIFT_RESULT_SCHEMA)


def from_row(row: Mapping[str, Any]) -> DriftResult:
    """Inverse of :meth:`DriftResult.to_row` (e.g. for a collected drift_metrics row)."""
    return DriftResult(
        detector=row["detector"],
        feature=row["feature"],
        window_start=row["window_start"],
        window_end=row["window_end"],
        statistic=row["statistic"],
        p_value=row["p_value"],
        p_value_adjusted=row["p_value_adjusted"],
        threshold=row["threshold"],
        drift=bool(row["drift"]),
        effect_size=row["effect_size"],
        effect_size_name=row["effect_size_name"],
        n_reference=int(row["n_reference"]),
        n_current=int(row["n_current"]),
        slice=row["slice"],
        slice_value=row["slice_value"],
        reference=row["reference"],
        granularity=row["granularity"],
        features=tuple(row["features"] or ()),
        status=row["status"],
        extra=dict(row["extra"] or {}),
    )
