"""The two jobs of the drift stage, each in its own MLflow run: fit and register the detectors,
or score windows with the registered version (fitting a first one only when configured to)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlhops.config.stages import DriftSettings, StatsSettings
from mlhops.drift.multivariate import drift_features, drift_slices, fit_detectors, reference_period, score_windows
from mlhops.drift.registry import DetectorNotRegisteredError
from mlhops.io import Catalog

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from mlhops.features.spec import FeatureSpec
    from mlhops.tracking import Tracker

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DriftJobs:
    """Fit and score with what they use.

    Attributes:
        spark: the session.
        catalog: table locations.
        drift: the ``drift`` settings.
        stats: the ``stats`` settings (slice definitions, the default reference period).
        specs: loads the configured feature specs (only a fit needs them).
        tracker: MLflow runs and the registry client.
    """

    spark: SparkSession
    catalog: Catalog
    drift: DriftSettings
    stats: StatsSettings
    specs: Callable[[], Sequence[FeatureSpec]]
    tracker: Tracker

    def fit(self, run_id: str, *, set_alias: bool = True) -> dict[str, Any]:
        """Fit and register a version (``mlhops drift fit``); the alias moves unless ``set_alias``
        is false."""
        ds = self.drift
        with self.tracker.run("drift_fit", tags={"mlhops.run_id": run_id}) as run:
            features = drift_features(self.specs(), ds)
            return fit_detectors(
                self.spark, self.catalog, ds, features=features, slices=drift_slices(ds, self.stats.slices),
                period=reference_period(ds, self.stats.baseline), client=self.tracker.client(),
                run_id=run.info.run_id, alias=ds.alias if set_alias else None,
            )

    def score(self, run_id: str, start: dt.date, end: dt.date) -> dict[str, Any]:
        """Score the windows starting in ``[start, end)`` with the registered version.

        Raises:
            DetectorNotRegisteredError: no version behind the alias.
        """
        params = {"start": start.isoformat(), "end": end.isoformat()}
        with self.tracker.run("drift", tags={"mlhops.run_id": run_id}, params=params) as run:
            out = dict(score_windows(
                self.spark, self.catalog, self.drift, slices=drift_slices(self.drift, self.stats.slices),
                start=start, end=end, run_id=run_id, client=self.tracker.client(), mlflow_run_id=run.info.run_id,
            ))
        out["mlflow_run_id"] = run.info.run_id
        return out

    def score_or_fit_first(self, run_id: str, start: dt.date, end: dt.date) -> tuple[dict[str, Any], str | None]:
        """:meth:`score`; without a registered version and with ``drift.fit_if_missing``, fit one
        first (a new installation's first run; an existing version is never replaced here).

        Returns:
            The scoring counts and the version fitted first (None when none was).

        Raises:
            DetectorNotRegisteredError: no version behind the alias and ``fit_if_missing`` off.
        """
        try:
            return self.score(run_id, start, end), None
        except DetectorNotRegisteredError:
            if not self.drift.fit_if_missing:
                raise
        logger.warning("no registered %s version: fitting one (drift.fit_if_missing is true)", self.drift.model_name)
        fitted = str(self.fit(run_id)["version"])
        return self.score(run_id, start, end), fitted
