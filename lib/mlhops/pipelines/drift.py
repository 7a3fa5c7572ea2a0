"""Stage ``drift``: multivariate drift with alibi-detect on sampled windows.

``mlhops drift fit`` (``DriftOptions(action="fit")``) samples the reference period, trains the
VAE and detectors and registers them in MLflow (the alias moves to the new version unless
``set_alias`` is false). ``mlhops drift`` (the nightly action, ``score``) loads the version
behind the alias and scores the windows starting in ``[start, end)``; it never fits a detector:
without a registered version it fails and says to run ``mlhops drift fit`` (unless
``drift.fit_if_missing``: see :meth:`mlhops.drift.jobs.DriftJobs.score_or_fit_first`).

The nightly action also scores imaging-metadata drift (scanner, protocol, modality mix) on
``omop.image_occurrence``/``image_feature`` when ``drift.imaging.enabled`` is true, or unset and
the warehouse holds images (:mod:`mlhops.drift.imaging_drift`); it needs no fitted detector and
runs before (and whether or not) the feature-table detectors do.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace
from typing import Any

from mlhops.drift.imaging_drift import has_images, score_imaging
from mlhops.drift.jobs import DriftJobs
from mlhops.drift.multivariate import latest_window_end, reference_period
from mlhops.drift.registry import DetectorNotRegisteredError
from mlhops.features.spec import load_feature_specs
from mlhops.io import table_exists, table_version
from mlhops.io.tables.monitoring import FEATURES, MULTIVARIATE_DRIFT
from mlhops.pipelines.context import Context
from mlhops.pipelines.options import DriftOptions
from mlhops.pipelines.stage import StageRequest, StageResult

NAME = "drift"
ACTIONS = ("score", "fit")


def run(ctx: Context, req: StageRequest[DriftOptions]) -> StageResult:
    """Fit-and-register or score, per ``req.options.action``."""
    ds, action = ctx.settings.drift, req.options.action
    if not ds.enabled:
        return StageResult(NAME, "skipped", "drift.enabled is false")
    if action not in ACTIONS:
        return StageResult(NAME, "failed", f"unknown drift action {action!r}; use one of {list(ACTIONS)}")
    started = time.perf_counter()
    imaging = _imaging(ctx, req) if action == "score" else None
    if not table_exists(ctx.spark, ctx.catalog, FEATURES):
        message = f"feature table {FEATURES} does not exist yet"
        if imaging is None or isinstance(imaging, str):
            return StageResult(NAME, "skipped", message + (f"; {imaging}" if imaging else ""))
        return _with_imaging(StageResult(NAME, "ok", f"multivariate detectors skipped: {message}"), imaging,
                             ctx, time.perf_counter() - started)
    jobs = _jobs(ctx)
    if action == "fit":
        out = jobs.fit(req.run_id, set_alias=req.options.set_alias)
        return StageResult(
            NAME, "ok", f"registered {ds.model_name} version {out['version']}",
            metrics={"suites": float(out["n_suites"]), "reference_rows": float(out["n_reference"]),
                     "seconds": time.perf_counter() - started},
            details={"version": out["version"]},
        )
    start = req.start or reference_period(ds, ctx.settings.stats.baseline)[1]
    end = req.end or latest_window_end(ctx.spark, ctx.catalog) or dt.date.today()
    try:
        out, fitted = jobs.score_or_fit_first(req.run_id, start, end)
    except DetectorNotRegisteredError as exc:
        return _with_imaging(StageResult(NAME, "failed", str(exc)), imaging, ctx, time.perf_counter() - started)
    version = table_version(ctx.spark, ctx.catalog, MULTIVARIATE_DRIFT)
    return _with_imaging(StageResult(
        NAME, "ok", f"{out['results']} results over {out['windows']} windows, {out['flags']} flagged",
        metrics={"windows": float(out["windows"]), "results": float(out["results"]), "flags": float(out["flags"]),
                 "seconds": time.perf_counter() - started},
        tables={MULTIVARIATE_DRIFT: int(version)} if version is not None else {},
        details={"detector_version": out["version"], "mlflow_run_id": out["mlflow_run_id"],
                 "fitted_first_version": fitted},
    ), imaging, ctx, time.perf_counter() - started)


def _imaging(ctx: Context, req: StageRequest[DriftOptions]) -> dict[str, Any] | str | None:
    """Imaging-metadata drift when configured: its counts, the reason it did not run (a string,
    when asked for explicitly), or None (not configured, or auto and no images)."""
    enabled = ctx.settings.drift.imaging.enabled
    if enabled is False:
        return None
    if not has_images(ctx.spark, ctx.catalog):
        return "drift.imaging.enabled but the warehouse holds no images" if enabled else None
    return score_imaging(ctx.spark, ctx.catalog, ctx.settings.drift, ctx.settings.stats, run_id=req.run_id,
                         start=req.start, end=req.end)


def _with_imaging(result: StageResult, imaging: dict[str, Any] | str | None, ctx: Context,
                  seconds: float) -> StageResult:
    """``result`` with the imaging part's counts, message and table version added."""
    if imaging is None:
        return result
    if isinstance(imaging, str):
        return replace(result, message=f"{result.message}; imaging: {imaging}")
    metrics = {**result.metrics, "seconds": seconds, **{f"imaging_{k}": float(imaging[k]) for k in
                                                        ("windows", "results", "flags", "insufficient", "seconds")}}
    version = table_version(ctx.spark, ctx.catalog, MULTIVARIATE_DRIFT)
    tables = {**result.tables, MULTIVARIATE_DRIFT: int(version)} if version is not None else result.tables
    message = (f"{result.message}; imaging: {imaging['windows']} windows, {imaging['flags']} flagged, "
               f"{imaging['insufficient']} with too few images")
    details = {**result.details, "imaging_reference": [imaging["reference_start"], imaging["reference_end"]]}
    return replace(result, message=message, metrics=metrics, tables=tables, details=details)


def _jobs(ctx: Context) -> DriftJobs:
    settings = ctx.settings
    return DriftJobs(ctx.spark, ctx.catalog, settings.drift, settings.stats, lambda: load_feature_specs(settings),
                     ctx.tracker)
