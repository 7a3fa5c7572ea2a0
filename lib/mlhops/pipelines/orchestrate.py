"""Run stages with lineage: timing, skip-when-done, the runs table and an MLflow run per stage.

A stage is skipped (unless ``force``) when an earlier successful run had the same window and the
same *fingerprint*: the stage's own fingerprint if it declares one (the ETL hashes its input
files), else the Delta versions of its ``input_tables`` (-1 for one that does not exist yet) with
its options. A stage with neither always runs (it must then be idempotent by itself).

Every stage that writes the warehouse (:attr:`Stage.writes_warehouse`) runs under the warehouse
writer lease (:mod:`mlhops.io.lease`), from its skip check to its ``mlhops/runs`` row: a second
run on the same warehouse waits for the first (or fails with "warehouse busy" after the wait)
instead of interleaving its writes. :func:`run_stages` claims it once for all its stages, with
the run id as owner; each stage's own claim is then re-entrant (no second claim).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from mlhops.errors import ConfigError, MLHOpsError
from mlhops.io import table_version
from mlhops.io.lease import writer_lease
from mlhops import pipelines
from mlhops.pipelines import Stage
from mlhops.pipelines.context import Context
from mlhops.pipelines.memory import released_after
from mlhops.pipelines.runs import already_done, record_stage, request_params
from mlhops.pipelines.stage import StageRequest, StageResult

logger = logging.getLogger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def stage_fingerprint(ctx: Context, st: Stage, request: StageRequest[Any]) -> str | None:
    """Fingerprint of a stage's inputs, or None when the stage cannot be skipped safely."""
    own = st.custom_fingerprint(ctx, request)
    if own is not None:
        return own
    if not st.input_tables:
        return None
    # A table that does not exist yet is part of the identity as "absent" (-1): when it appears,
    # the fingerprint changes and the stage runs; until then a re-run is skipped like any other.
    versions = {t: table_version(ctx.spark, ctx.catalog, t) for t in st.input_tables}
    versions = {t: -1 if v is None else v for t, v in versions.items()}
    # the stage's options (e.g. drift fit vs score) are part of what was done
    doc = {"versions": versions, "options": request_params(request)}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _log_to_mlflow(ctx: Context, request: StageRequest[Any], result: StageResult) -> str | None:
    """Record the stage outcome as an MLflow run (metrics only: counts, rates, durations)."""
    try:
        import mlflow

        tags = {"mlhops.run_id": request.run_id, "mlhops.status": result.status}
        window = {"window_start": request.start, "window_end": request.end}
        options = {k: v for k, v in request_params(request).items() if k != "force"}
        with ctx.tracker.run(result.stage, tags=tags, params={**window, **options}) as run:
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

    @property
    def verdict(self) -> str:
        """One line: which stages failed, or that all went well."""
        return "FAILED: " + ", ".join(self.failed) if self.failed else "all stages ok"

    def render(self) -> str:
        """A one-screen summary for the on-call engineer."""
        lines = [f"mlhops run {self.run_id}"]
        for o in self.outcomes:
            lines.append(f"  {o.stage:<10} {o.status:<8} {o.seconds:7.1f}s  {o.message[:90]}")
        lines.append(f"  {self.verdict}")
        return "\n".join(lines)


def _record(ctx: Context, request: StageRequest[Any], result: StageResult, started: dt.datetime, fp: str | None,
            mlflow_id: str | None = None) -> None:
    """Write a stage outcome to ``mlhops/runs`` (a failure to record is logged, never raised)."""
    try:
        record_stage(
            ctx.spark, ctx.catalog, request, result, environment=ctx.settings.environment,
            started_at=started, ended_at=_now(), fingerprint=fp or "", mlflow_run_id=mlflow_id,
        )
    except Exception:  # noqa: BLE001
        logger.error("could not record stage %s in mlhops/runs", result.stage, exc_info=True)


@contextmanager
def _lease_for(ctx: Context, stages: list[Stage], request: StageRequest[Any], label: str) -> Iterator[None]:
    """Hold the writer lease for run ``request.run_id`` when any of ``stages`` writes the warehouse."""
    if not any(st.writes_warehouse for st in stages):
        yield
        return
    with writer_lease(ctx.spark, ctx.catalog, owner=request.run_id, stage=label):
        yield


def run_stage(ctx: Context, name: str, request: StageRequest[Any], *, position: str = "") -> StageOutcome:
    """Run one stage with skip-when-done, lineage and error capture (never raises for stage bugs).

    Raises:
        WarehouseBusyError: another run held the writer lease past the wait.
    """
    st = pipelines.stage(name)
    with _lease_for(ctx, [st], request, name):
        return _run_stage(ctx, st, request, position)


def _run_stage(ctx: Context, st: Stage, request: StageRequest[Any], position: str) -> StageOutcome:
    name = st.name
    t0 = time.monotonic()
    started = _now()
    fp = stage_fingerprint(ctx, st, request)
    if fp is not None and not request.force:
        done = already_done(ctx.spark, ctx.catalog, name, request, fp)
        if done:
            logger.info("%s %s: skipped, already done in run %s (use --force to redo)", position, name, done)
            skipped = StageResult(stage=name, status="skipped", message=f"already done in run {done}")
            if done != request.run_id:  # the run's report lists it with why (a rerun keeps its own row)
                _record(ctx, request, skipped, started, fp)
            return StageOutcome(name, "skipped", 0.0, skipped.message, skipped)
    logger.info("%s %s: started", position, name)
    try:
        with released_after(ctx.spark):
            result = st.run(ctx, request)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - a failed stage is reported, dependents are stopped
        logger.error("%s %s: failed (window %s..%s): %s", position, name, request.start, request.end,
                     exc, exc_info=True)
        result = StageResult(stage=name, status="failed", message=f"{type(exc).__name__}: {exc}")
    seconds = time.monotonic() - t0
    result = replace(result, metrics={**result.metrics, "duration_s": seconds})
    _record(ctx, request, result, started, fp, _log_to_mlflow(ctx, request, result))
    logger.info("%s %s: %s in %.1fs %s", position, name, result.status, seconds, result.message[:200])
    return StageOutcome(name, result.status, seconds, result.message, result)


# Called before a stage starts (outcome None) and when it ends: (position, stage, outcome).
Progress = Callable[[str, str, "StageOutcome | None"], None]


def run_stages(
    ctx: Context, stages: list[str], request: StageRequest[Any], *, progress: Progress | None = None
) -> RunSummary:
    """Run ``stages`` in order; a failed stage blocks its dependents, the others still run.

    ``request`` carries the window and ``force``; each stage gets its own default options unless
    ``request.options`` is of that stage's options type (a single-stage verb with options).
    ``progress`` hears of each stage as it starts and ends (the CLI prints one line a stage).
    """
    label = stages[0] if len(stages) == 1 else "nightly"
    with _lease_for(ctx, [pipelines.stage(n) for n in stages], request, label):
        return _run_stages(ctx, stages, request, progress)


def _run_stages(
    ctx: Context, stages: list[str], request: StageRequest[Any], progress: Progress | None
) -> RunSummary:
    report: Progress = progress or (lambda *_: None)
    summary = RunSummary(request.run_id)
    bad: set[str] = set()
    for i, name in enumerate(stages, 1):
        pos = f"[{i}/{len(stages)}]"
        st = pipelines.stage(name)
        blockers = [d for d in st.depends_on if d in bad]
        report(pos, name, None)
        if blockers:
            logger.warning("%s %s: not run, depends on failed %s", pos, name, ", ".join(blockers))
            blocked = StageOutcome(name, "blocked", 0.0, f"depends on failed {', '.join(blockers)}")
            report(pos, name, blocked)
            summary.outcomes.append(blocked)
            bad.add(name)
            continue
        options = request.options if isinstance(request.options, st.options) else st.options()
        outcome = run_stage(ctx, name, replace(request, options=options), position=pos)
        report(pos, name, outcome)
        if outcome.status == "failed":
            bad.add(name)
        summary.outcomes.append(outcome)
    return summary


def select_stages(only: list[str] | None = None, from_stage: str | None = None) -> list[str]:
    """Stage names in nightly order, filtered by ``--only`` / ``--from-stage``."""
    names = pipelines.nightly_stages()
    known = [s.name for s in pipelines.STAGES]
    for s in (only or []) + ([from_stage] if from_stage else []):
        if s not in known:
            raise ConfigError(f"unknown stage {s!r}; known: {', '.join(names)}")
    if only:
        return [n for n in names if n in only]
    if from_stage:
        return names[names.index(from_stage):]
    return names
