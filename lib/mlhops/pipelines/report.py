"""Stage ``report``: the HTML monitoring report and model card, written and logged to MLflow."""

from __future__ import annotations

import logging

from pyspark.sql import SparkSession

from mlhops.config.model import Settings
from mlhops.pipelines.base import StageParams, StageResult
from mlhops.reporting.report import write_report

logger = logging.getLogger(__name__)


def run(spark: SparkSession, settings: Settings, params: StageParams) -> StageResult:
    path = write_report(spark, settings, params.run_id)
    try:
        import mlflow

        from mlhops.tracking import mlflow_run

        with mlflow_run(settings, "report", tags={"mlhops.run_id": params.run_id}):
            mlflow.log_artifact(str(path), artifact_path="reports")
    except Exception:  # noqa: BLE001 - the file is written; tracking outage is logged, not fatal
        logger.warning("report not logged to MLflow", exc_info=True)
    return StageResult("report", "ok", f"report at {path}", metrics={"report_bytes": float(path.stat().st_size)},
                       details={"report_path": str(path)})
