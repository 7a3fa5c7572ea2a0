"""The ``mlhops/runs`` lineage table.

One row per (run_id, stage): status, window, timings, Delta versions written, metrics and
details (input files with checksums, counts). MERGE on (run_id, stage), so re-recording a stage
of the same run replaces its row instead of duplicating it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
from typing import Any

from pyspark.sql import SparkSession

from mlhops import __version__
from mlhops.io import Catalog, merge_into, read_table, table_exists
from mlhops.io.tables.core import RUNS, RUNS_SCHEMA
from mlhops.pipelines.stage import StageRequest, StageResult

logger = logging.getLogger(__name__)


def _json_default(o: Any) -> Any:
    if isinstance(o, (dt.date, dt.datetime)):
        return o.isoformat()
    if isinstance(o, set):
        return sorted(o)
    return str(o)


def request_params(request: StageRequest[Any]) -> dict[str, Any]:
    """What was asked of a stage beyond its window: ``force`` and its typed options."""
    options = dataclasses.asdict(request.options) if dataclasses.is_dataclass(request.options) else {}
    return {"force": request.force, **options}


def record_stage(
    spark: SparkSession,
    catalog: Catalog,
    request: StageRequest[Any],
    result: StageResult,
    *,
    environment: str,
    started_at: dt.datetime,
    ended_at: dt.datetime,
    fingerprint: str = "",
    mlflow_run_id: str | None = None,
) -> None:
    """Write one stage outcome to ``mlhops/runs``."""
    metrics = {k: float(v) for k, v in result.metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
    row = (
        request.run_id,
        result.stage,
        result.status,
        request.start,
        request.end,
        fingerprint,
        started_at,
        ended_at,
        (ended_at - started_at).total_seconds(),
        result.message[:2000],
        metrics,
        {k: int(v) for k, v in result.tables.items()},
        json.dumps(result.details, default=_json_default, sort_keys=True),
        json.dumps(request_params(request), default=_json_default, sort_keys=True),
        mlflow_run_id,
        environment,
        __version__,
    )
    df = spark.createDataFrame([row], RUNS_SCHEMA)
    merge_into(df, catalog, RUNS, ["run_id", "stage"])


def already_done(
    spark: SparkSession, catalog: Catalog, stage: str, request: StageRequest[Any], fingerprint: str
) -> str | None:
    """Run id of an earlier successful run of ``stage`` for the same window and input, if any."""
    if not table_exists(spark, catalog, RUNS):
        return None
    runs = read_table(spark, catalog, RUNS)
    cond = (
        (runs.stage == stage)
        & runs.status.isin("ok", "alerts")
        & runs.window_start.eqNullSafe(request.start)
        & runs.window_end.eqNullSafe(request.end)
        & runs.fingerprint.eqNullSafe(fingerprint)
    )
    hit = runs.where(cond).orderBy(runs.ended_at.desc()).select("run_id").first()
    return str(hit["run_id"]) if hit else None


def stage_succeeded(spark: SparkSession, catalog: Catalog, run_id: str, stage: str) -> bool:
    """Whether run ``run_id`` recorded ``stage`` as successful (``ok`` or ``alerts``)."""
    if not table_exists(spark, catalog, RUNS):
        return False
    runs = read_table(spark, catalog, RUNS)
    cond = (runs.run_id == run_id) & (runs.stage == stage) & runs.status.isin("ok", "alerts")
    return runs.where(cond).limit(1).count() > 0
