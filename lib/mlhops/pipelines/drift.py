"""Stage ``drift``: multivariate drift with alibi-detect on sampled windows.

``mlhops drift fit`` (``DriftOptions(action="fit")``) samples the reference period, trains the
VAE and detectors and registers them in MLflow (the alias moves to the new version unless
``set_alias`` is false). ``mlhops drift`` (the nightly action, ``score``) loads the version
behind the alias and scores the windows starting in ``[start, end)``; it never fits a detector:
without a registered version it fails and says to run ``mlhops drift fit`` (unless
``drift.fit_if_missing``: see :meth:`mlhops.drift.jobs.DriftJobs.score_or_fit_first`).
"""

from __future__ import annotations

import datetime as dt
import time

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
    if not table_exists(ctx.spark, ctx.catalog, FEATURES):
        return StageResult(NAME, "skipped", f"feature table {FEATURES} does not exist yet")
    started = time.perf_counter()
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
        return StageResult(NAME, "failed", str(exc))
    version = table_version(ctx.spark, ctx.catalog, MULTIVARIATE_DRIFT)
    return StageResult(
        NAME, "ok", f"{out['results']} results over {out['windows']} windows, {out['flags']} flagged",
        metrics={"windows": float(out["windows"]), "results": float(out["results"]), "flags": float(out["flags"]),
                 "seconds": time.perf_counter() - started},
        tables={MULTIVARIATE_DRIFT: int(version)} if version is not None else {},
        details={"detector_version": out["version"], "mlflow_run_id": out["mlflow_run_id"],
                 "fitted_first_version": fitted},
    )


def _jobs(ctx: Context) -> DriftJobs:
    settings = ctx.settings
    return DriftJobs(ctx.spark, ctx.catalog, settings.drift, settings.stats, lambda: load_feature_specs(settings),
                     ctx.tracker)
