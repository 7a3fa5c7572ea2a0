"""Stage ``drift``: multivariate drift with alibi-detect on sampled windows.

``mlhops drift fit`` (``params.extra["action"] == "fit"``) samples the reference period, trains
the VAE and detectors and registers them in MLflow (the alias moves to the new version unless
``extra["set_alias"]`` is false). ``mlhops drift`` (the nightly action, ``score``) loads the
version behind the alias and scores the windows starting in ``[start, end)``; it never fits a
detector: without a registered version it fails and says to run ``mlhops drift fit``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time

from pyspark.sql import SparkSession

from mlhops.config.model import Settings
from mlhops.drift.multivariate import (
    FEATURES_TABLE,
    MULTIVARIATE_DRIFT_TABLE,
    fit_detectors,
    latest_window_end,
    reference_period,
    score_windows,
)
from mlhops.drift.registry import DetectorNotRegisteredError
from mlhops.io import Catalog, table_exists, table_version
from mlhops.pipelines.base import StageParams, StageResult
from mlhops.tracking import mlflow_run

logger = logging.getLogger(__name__)

STAGE = "drift"
# Skipped by the orchestrator when the feature table did not change since the last scoring.
INPUT_TABLES = ["mlhops.features"]
ACTIONS = ("score", "fit")


def run(spark: SparkSession, settings: Settings, params: StageParams) -> StageResult:
    """Fit-and-register or score, per ``params.extra["action"]`` (default ``score``)."""
    ds = settings.drift
    if not ds.enabled:
        return StageResult(STAGE, "skipped", "drift.enabled is false")
    action = str(params.extra.get("action", "score"))
    if action not in ACTIONS:
        return StageResult(STAGE, "failed", f"unknown drift action {action!r}; use one of {list(ACTIONS)}")
    cat = Catalog(settings.warehouse)
    if not table_exists(spark, cat, FEATURES_TABLE):
        return StageResult(STAGE, "skipped", "feature table mlhops.features does not exist yet")
    started = time.perf_counter()
    if action == "fit":
        if "set_alias" in params.extra and not params.extra["set_alias"]:
            settings = dataclasses.replace(settings, drift=dataclasses.replace(ds, alias=""))
        with mlflow_run(settings, "drift_fit", tags={"mlhops.run_id": params.run_id}) as run_:
            out = fit_detectors(spark, settings, run_.info.run_id)
        return StageResult(
            STAGE, "ok", f"registered {ds.model_name} version {out['version']}",
            metrics={"suites": float(out["n_suites"]), "reference_rows": float(out["n_reference"]),
                     "seconds": time.perf_counter() - started},
            details={"version": out["version"]},
        )
    start = params.start or reference_period(settings)[1]
    end = params.end or latest_window_end(spark, settings) or dt.date.today()
    fitted: str | None = None
    try:
        out = _score(spark, settings, params.run_id, start, end)
    except DetectorNotRegisteredError as exc:
        if not ds.fit_if_missing:
            return StageResult(STAGE, "failed", str(exc))
        # First run of a new installation, allowed by configuration only: fit once, logged and
        # registered like `mlhops drift fit`. An existing version is never replaced here.
        logger.warning("no registered %s version: fitting one (drift.fit_if_missing is true)", ds.model_name)
        with mlflow_run(settings, "drift_fit", tags={"mlhops.run_id": params.run_id}) as fit_run:
            fitted = str(fit_detectors(spark, settings, fit_run.info.run_id)["version"])
        out = _score(spark, settings, params.run_id, start, end)
    version = table_version(spark, cat, MULTIVARIATE_DRIFT_TABLE)
    return StageResult(
        STAGE, "ok", f"{out['results']} results over {out['windows']} windows, {out['flags']} flagged",
        metrics={"windows": float(out["windows"]), "results": float(out["results"]), "flags": float(out["flags"]),
                 "seconds": time.perf_counter() - started},
        tables={MULTIVARIATE_DRIFT_TABLE: int(version)} if version is not None else {},
        details={"detector_version": out["version"], "mlflow_run_id": out["mlflow_run_id"],
                 "fitted_first_version": fitted},
    )


def _score(spark: SparkSession, settings: Settings, run_id: str, start: dt.date, end: dt.date) -> dict:  # type: ignore[type-arg]
    with mlflow_run(settings, "drift", tags={"mlhops.run_id": run_id},
                    params={"start": start.isoformat(), "end": end.isoformat()}) as run_:
        out = dict(score_windows(spark, settings, start, end, run_id))
    out["mlflow_run_id"] = run_.info.run_id
    return out
