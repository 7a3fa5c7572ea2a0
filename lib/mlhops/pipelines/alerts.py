"""Stage ``alerts``: evaluate the YAML rules over the platform tables -> ``mlhops/alerts``.

Alerts are inserted once per (rule, subject, window): re-runs raise no duplicates and post
nothing twice. The stage's status is ``alerts`` (exit code 3) when an alert at or above
``alerts.exit_severity`` concerns the latest window of its source table.
"""

from __future__ import annotations

import logging
from functools import reduce
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.alerts.evaluate import EVALUATORS
from mlhops.alerts.rules import SEVERITY_ORDER, load_rules
from mlhops.alerts.store import ALERTS_TABLE, new_alerts, store_alerts, with_ids
from mlhops.alerts.webhook import post_alerts
from mlhops.config.loader import repo_conf_dir
from mlhops.config.model import Settings
from mlhops.io import Catalog, table_version
from mlhops.pipelines.base import StageParams, StageResult

logger = logging.getLogger(__name__)

INPUT_TABLES: list[str] = []  # reads many optional tables: always evaluated (cheap, idempotent)


def rules_path(settings: Settings) -> Path:
    p = Path(settings.alerts.rules_file)
    if p.is_absolute() or p.exists():
        return p
    return repo_conf_dir().parent / p


def evaluate_rules(spark: SparkSession, settings: Settings) -> DataFrame:
    """Alert candidates of every rule (with ``is_current``)."""
    catalog = Catalog(settings.warehouse)
    frames = [EVALUATORS[r.kind](spark, catalog, r) for r in load_rules(rules_path(settings))]
    return reduce(DataFrame.unionByName, frames)


def run(spark: SparkSession, settings: Settings, params: StageParams) -> StageResult:
    catalog = Catalog(settings.warehouse)
    candidates = evaluate_rules(spark, settings).cache()
    try:
        if params.start is not None and params.end is not None:
            in_scope = (F.col("window_start") >= F.lit(params.start)) & (F.col("window_start") < F.lit(params.end))
        else:
            in_scope = F.col("is_current")
        threshold = SEVERITY_ORDER[settings.alerts.exit_severity]
        sev_rank = F.create_map(*[x for k, v in SEVERITY_ORDER.items() for x in (F.lit(k), F.lit(v))])
        firing = candidates.where(in_scope & (sev_rank[F.col("severity")] >= threshold))
        n_firing = firing.count()
        by_sev = {r["severity"]: int(r["count"]) for r in candidates.where(in_scope).groupBy("severity").count().collect()}
        alerts = with_ids(candidates, params.run_id).cache()
        fresh = new_alerts(spark, catalog, alerts)
        fresh_rows = [r.asDict() for r in fresh.drop("raised_at").collect()]
        store_alerts(catalog, alerts)
        alerts.unpersist()
    finally:
        candidates.unpersist()
    if fresh_rows and settings.alerts.webhook_url:
        post_alerts(settings.alerts.webhook_url, fresh_rows, run_id=params.run_id)
    metrics = {f"alerts_current.{k}": float(v) for k, v in by_sev.items()}
    metrics["alerts_new"] = float(len(fresh_rows))
    metrics["alerts_firing"] = float(n_firing)
    status = "alerts" if n_firing else "ok"
    msg = f"{len(fresh_rows)} new alert(s); {n_firing} at or above {settings.alerts.exit_severity} in scope"
    version = table_version(spark, catalog, ALERTS_TABLE)
    return StageResult(
        "alerts", status, msg, metrics=metrics,
        tables={ALERTS_TABLE: version} if version is not None else {},
        details={"new_alert_ids": [r["alert_id"] for r in fresh_rows]},
    )
