"""Stage ``promote``: explicit alias changes, logged to ``mlhops.model_events`` and MLflow.

``params.extra``: ``action`` = ``promote`` (default; challenger or ``version`` -> champion) or
``rollback`` (champion -> ``previous_champion`` or ``version``), ``version``, ``reason``.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import SparkSession

from mlhops.config.model import Settings
from mlhops.errors import ConfigError
from mlhops.io import Catalog, merge_into, table_version
from mlhops.models import lifecycle
from mlhops.models.tables import MODEL_EVENTS, MODEL_EVENTS_KEYS, MODEL_EVENTS_SCHEMA
from mlhops.models.task import load_task
from mlhops.pipelines.base import StageParams, StageResult
from mlhops.tracking import mlflow_run

STAGE = "promote"


def run(spark: SparkSession, settings: Settings, params: StageParams) -> StageResult:
    """Promote the challenger (or a version) to champion, or roll the champion back."""
    action = str(params.extra.get("action", "promote"))
    if action not in ("promote", "rollback"):
        raise ConfigError(f"promote: action must be promote or rollback, got {action!r}")
    version = params.extra.get("version")
    reason = str(params.extra.get("reason", "")) or f"{action} by operator"
    task = load_task(settings)
    name = task.registered_model
    change = (lifecycle.promote if action == "promote" else lifecycle.rollback)(
        settings, name, str(version) if version is not None else None
    )
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with mlflow_run(settings, action, tags={"mlhops.model": name, "mlhops.run_id": params.run_id},
                    params={"action": action, "from_version": change.from_version,
                            "to_version": change.to_version,
                            "reason": reason}):
        pass
    catalog = Catalog(settings.warehouse)
    row = (f"{params.run_id}:{action}", now, name, action, change.from_version, change.to_version, reason)
    event = spark.createDataFrame([row], MODEL_EVENTS_SCHEMA)
    merge_into(event, catalog, MODEL_EVENTS, list(MODEL_EVENTS_KEYS))
    return StageResult(
        STAGE, "ok", f"{action}: champion {change.from_version} -> {change.to_version}",
        tables={MODEL_EVENTS: table_version(spark, catalog, MODEL_EVENTS) or 0},
        details={"action": action, "from_version": change.from_version, "to_version": change.to_version},
    )
