"""Run stages with lineage: timing, skip-when-done, the runs table and an MLflow run per stage.

A stage is skipped (unless ``force``) when an earlier successful run had the same window and the
same *fingerprint*: the stage's own ``fingerprint(spark, settings, params)`` if it defines one
(the ETL hashes its input files), else the Delta versions of the tables listed in its
``INPUT_TABLES``. A stage with neither always runs (it must then be idempotent by itself).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
import logging
import time
import traceback
from dataclasses import dataclass, field, replace

from pyspark.sql import SparkSession

from mlhops.config.model import Settings
from mlhops.errors import ConfigError, MLHOpsError
from mlhops.io import Catalog, table_version
from mlhops.pipelines import DEPENDS_ON, STAGES
from mlhops.pipelines.base import StageParams, StageResult
from mlhops.pipelines.runs import already_done, record_stage

logger = logging.getLogger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def stage_fingerprint(spark: SparkSession, settings: Settings, name: str, params: StageParams) -> str | None:
    """Fingerprint of a stage's inputs, or None when the stage cannot be skipped safely."""
    module = importlib.import_module(STAGES[name])
    fp = getattr(module, "fingerprint", None)
    if callable(fp):
        return str(fp(spark, settings, params))
    inputs = getattr(module, "INPUT_TABLES", None)
    if not inputs:
        return None
    cat = Catalog(settings.warehouse)
    versions = {t: table_version(spark, cat, t) for t in inputs}
    if any(v is None for v in versions.values()):
        return None
    # verb options (e.g. drift fit vs score) are part of what was done
    doc = {"versions": versions, "extra": params.extra, "source": params.source, "input": params.input}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _log_to_mlflow(settings: Settings, params: StageParams, result: StageResult) -> str | None:
    """Record the stage outcome as an MLflow run (metrics only: counts, rates, durations)."""
    try:
        import mlflow

        from mlhops.tracking import mlflow_run

        tags = {"mlhops.run_id": params.run_id, "mlhops.status": result.status}
        window = {"window_start": params.start, "window_end": params.end, "source": params.source}
        with mlflow_run(settings, result.stage, tags=tags, params=window) as run:
            if result.metrics:
                mlflow.log_metrics({k: float(v) for k, v in result.metrics.items()})
            if result.tables:
                mlflow.log_dict({"delta_versions": result.tables}, "lineage/tables.json")
            return str(run.info.run_id)
    except MLHOpsError:
        raise
    except Exception:  # noqa: BLE001 - tracking outage must not fail the data pipeline
        logger.warning("could not record stage %s in MLflow", result.stage, exc_info=True)
        return None


@dataclass
class StageOutcome:
    """One line of the run summary."""

    stage: str
    status: str
    seconds: float
    message: str = ""
    result: StageResult | None = None


@dataclass
class RunSummary:
    run_id: str
    outcomes: list[StageOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        return [o.stage for o in self.outcomes if o.status in ("failed", "blocked")]

    def render(self) -> str:
        """A one-screen summary for the on-call engineer."""
        lines = [f"mlhops run {self.run_id}"]
        for o in self.outcomes:
            lines.append(f"  {o.stage:<10} {o.status:<8} {o.seconds:7.1f}s  {o.message[:90]}")
        lines.append("  FAILED: " + ", ".join(self.failed) if self.failed else "  all stages ok")
        return "\n".join(lines)


def run_stage(
    spark: SparkSession,
    settings: Settings,
    name: str,
    params: StageParams,
    *,
    position: str = "",
) -> StageOutcome:
    """Run one stage with skip-when-done, lineage and error capture (never raises for stage bugs)."""
    if name not in STAGES:
        raise ConfigError(f"unknown stage {name!r}; known: {', '.join(STAGES)}")
    from mlhops.pipelines import stage_runner

    t0 = time.monotonic()
    started = _now()
    fp = stage_fingerprint(spark, settings, name, params)
    if fp is not None and not params.force:
        done = already_done(spark, settings, name, params, fp)
        if done:
            logger.info("%s %s: skipped, already done in run %s (use --force to redo)", position, name, done)
            return StageOutcome(name, "skipped", 0.0, f"already done in run {done}")
    logger.info("%s %s: started", position, name)
    try:
        result: StageResult = stage_runner(name)(spark, settings, params)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - a failed stage is reported, dependents are stopped
        logger.error("%s %s: failed: %s", position, name, exc)
        logger.debug("%s", traceback.format_exc())
        msg = f"{type(exc).__name__}: {exc}"
        result = StageResult(stage=name, status="failed", message=msg)
    seconds = time.monotonic() - t0
    result = replace(result, metrics={**result.metrics, "duration_s": seconds})
    mlflow_id = _log_to_mlflow(settings, params, result)
    try:
        record_stage(
            spark, settings, params, result, started_at=started, ended_at=_now(),
            fingerprint=fp or "", mlflow_run_id=mlflow_id,
        )
    except Exception:  # noqa: BLE001
        logger.error("could not record stage %s in mlhops/runs", name, exc_info=True)
    logger.info("%s %s: %s in %.1fs %s", position, name, result.status, seconds, result.message[:200])
    return StageOutcome(name, result.status, seconds, result.message, result)


def run_stages(
    spark: SparkSession,
    settings: Settings,
    stages: list[str],
    params: StageParams,
) -> RunSummary:
    """Run ``stages`` in order; a failed stage blocks its dependents, the others still run."""
    summary = RunSummary(params.run_id)
    bad: set[str] = set()
    for i, name in enumerate(stages, 1):
        pos = f"[{i}/{len(stages)}]"
        blockers = [d for d in DEPENDS_ON.get(name, ()) if d in bad]
        if blockers:
            logger.warning("%s %s: not run, depends on failed %s", pos, name, ", ".join(blockers))
            summary.outcomes.append(StageOutcome(name, "blocked", 0.0, f"depends on failed {', '.join(blockers)}"))
            bad.add(name)
            continue
        outcome = run_stage(spark, settings, name, params, position=pos)
        if outcome.status == "failed":
            bad.add(name)
        summary.outcomes.append(outcome)
    return summary


def select_stages(only: list[str] | None = None, from_stage: str | None = None) -> list[str]:
    """Stage names in nightly order, filtered by ``--only`` / ``--from-stage``."""
    from mlhops.pipelines import ON_DEMAND

    names = [n for n in STAGES if n not in ON_DEMAND]
    for s in (only or []) + ([from_stage] if from_stage else []):
        if s not in STAGES:
            raise ConfigError(f"unknown stage {s!r}; known: {', '.join(names)}")
    if only:
        return [n for n in names if n in only]
    if from_stage:
        return names[names.index(from_stage):]
    return names
