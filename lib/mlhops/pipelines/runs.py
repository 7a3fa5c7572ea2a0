"""The ``mlhops/runs`` lineage table and the per-stage MLflow run.

One row per (run_id, stage): status, window, timings, Delta versions written, metrics and
details (input files with checksums, counts). MERGE on (run_id, stage), so re-recording a stage
of the same run replaces its row instead of duplicating it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from mlhops import __version__
from mlhops.config.model import Settings
from mlhops.io import Catalog, merge_into, read_table, table_exists
from mlhops.pipelines.base import StageParams, StageResult

logger = logging.getLogger(__name__)

RUNS_TABLE = "mlhops.runs"

RUNS_SCHEMA = T.StructType(
    [
        T.StructField("run_id", T.StringType(), False),
        T.StructField("stage", T.StringType(), False),
        T.StructField("status", T.StringType(), False),
        T.StructField("window_start", T.DateType(), True),
        T.StructField("window_end", T.DateType(), True),
        T.StructField("fingerprint", T.StringType(), True),
        T.StructField("started_at", T.TimestampType(), False),
        T.StructField("ended_at", T.TimestampType(), False),
        T.StructField("duration_s", T.DoubleType(), False),
        T.StructField("message", T.StringType(), True),
        T.StructField("metrics", T.MapType(T.StringType(), T.DoubleType()), True),
        T.StructField("tables", T.MapType(T.StringType(), T.LongType()), True),
        T.StructField("details_json", T.StringType(), True),
        T.StructField("params_json", T.StringType(), True),
        T.StructField("mlflow_run_id", T.StringType(), True),
        T.StructField("environment", T.StringType(), False),
        T.StructField("mlhops_version", T.StringType(), False),
    ]
)


def _json_default(o: Any) -> Any:
    if isinstance(o, (dt.date, dt.datetime)):
        return o.isoformat()
    if isinstance(o, set):
        return sorted(o)
    return str(o)


def record_stage(
    spark: SparkSession,
    settings: Settings,
    params: StageParams,
    result: StageResult,
    *,
    started_at: dt.datetime,
    ended_at: dt.datetime,
    fingerprint: str = "",
    mlflow_run_id: str | None = None,
) -> None:
    """Write one stage outcome to ``mlhops/runs``."""
    metrics = {k: float(v) for k, v in result.metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
    row = (
        params.run_id,
        result.stage,
        result.status,
        params.start,
        params.end,
        fingerprint,
        started_at,
        ended_at,
        (ended_at - started_at).total_seconds(),
        result.message[:2000],
        metrics,
        {k: int(v) for k, v in result.tables.items()},
        json.dumps(result.details, default=_json_default, sort_keys=True),
        json.dumps(
            {"source": params.source, "input": params.input, "force": params.force, **params.extra},
            default=_json_default,
            sort_keys=True,
        ),
        mlflow_run_id,
        settings.environment,
        __version__,
    )
    df = spark.createDataFrame([row], RUNS_SCHEMA)
    merge_into(df, Catalog(settings.warehouse), RUNS_TABLE, ["run_id", "stage"])


def already_done(
    spark: SparkSession, settings: Settings, stage: str, params: StageParams, fingerprint: str
) -> str | None:
    """Run id of an earlier successful run of ``stage`` for the same window and input, if any."""
    cat = Catalog(settings.warehouse)
    if not table_exists(spark, cat, RUNS_TABLE):
        return None
    runs = read_table(spark, cat, RUNS_TABLE)
    cond = (
        (runs.stage == stage)
        & runs.status.isin("ok", "alerts")
        & runs.window_start.eqNullSafe(params.start)
        & runs.window_end.eqNullSafe(params.end)
        & runs.fingerprint.eqNullSafe(fingerprint)
    )
    hit = runs.where(cond).orderBy(runs.ended_at.desc()).select("run_id").first()
    return str(hit["run_id"]) if hit else None
