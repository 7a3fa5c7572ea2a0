"""Model card following the reporting items of the MLHOps checklist: intended use, data and its
lineage, model, performance, subgroups, limitations, update history."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mlhops.io import Catalog, read_table, table_exists
from mlhops.io.tables.core import RUNS
from mlhops.io.tables.models import INFERENCE_LOG, MODEL_EVENTS, PERFORMANCE_METRICS
from mlhops.reporting.html import escape, table
from mlhops.reporting.notes import muted

if TYPE_CHECKING:
    from mlhops.config.stages import ModelSettings, ReportSettings
    from mlhops.tracking import Tracker

logger = logging.getLogger(__name__)


def _kv(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><td>{escape(k)}</td><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="kv"><tbody>{body}</tbody></table>'


def _model_names(spark: SparkSession, cat: Catalog) -> list[str]:
    for name in (PERFORMANCE_METRICS, INFERENCE_LOG):
        if table_exists(spark, cat, name):
            return [r[0] for r in read_table(spark, cat, name).select("model_name").distinct().collect()]
    return []


def _registry(tracker: Tracker, names: list[str]) -> list[tuple[Any, ...]]:
    """Versions, aliases and lineage tags from the MLflow registry (empty when unreachable)."""
    rows: list[tuple[Any, ...]] = []
    try:
        client = tracker.client()
        for name in names:
            model = client.get_registered_model(name)
            alias_of: dict[str, list[str]] = {}
            for alias, version in (model.aliases or {}).items():
                alias_of.setdefault(str(version), []).append(alias)
            for mv in sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version)):
                tags = {k: v for k, v in (mv.tags or {}).items() if not k.startswith("mlflow.")}
                lineage = ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))[:400]
                rows.append((name, mv.version, ", ".join(sorted(alias_of.get(str(mv.version), []))) or "—",
                             str(mv.creation_timestamp), lineage or "—"))
    except Exception:  # noqa: BLE001 - the report must render even if the registry is down
        logger.warning("model registry not readable for the model card", exc_info=True)
    return rows


def _lineage(spark: SparkSession, cat: Catalog) -> list[tuple[Any, ...]]:
    if not table_exists(spark, cat, RUNS):
        return []
    runs = read_table(spark, cat, RUNS).where(F.col("status").isin("ok", "alerts"))
    exploded = runs.select("stage", "ended_at", "run_id", F.explode("tables").alias("table", "version"))
    latest = exploded.groupBy("table").agg(F.max_by(F.struct("version", "stage", "run_id", "ended_at"), "ended_at").alias("x"))
    return [(r["table"], int(r["x"]["version"]), r["x"]["stage"], r["x"]["run_id"], str(r["x"]["ended_at"])[:19])
            for r in latest.orderBy("table").collect()]


def render(spark: SparkSession, cat: Catalog, tracker: Tracker, rs: ReportSettings, models: ModelSettings) -> str:
    """The model card section (HTML).

    Args:
        spark: the session.
        cat: the warehouse (runs, performance, inference log, model events).
        tracker: the MLflow tracker (registered versions, aliases, lineage tags).
        rs: the ``report`` settings (intended use, owner, limitations).
        models: the ``models`` settings (task, fairness attributes and minimum group size).
    """
    names = _model_names(spark, cat)
    parts = ["<h3>Intended use</h3>", f"<p>{escape(rs.intended_use)}</p>",
             _kv([("Owner", escape(rs.owner)), ("Prediction task", escape(models.task)),
                  ("Registered model(s)", escape(", ".join(names) or "none yet"))])]
    parts.append("<h3>Data and lineage</h3><p>OMOP CDM v5.4 tables built by the mlhops ETL (de-identified: "
                 "salted hashes, optional date shift) and the platform tables derived from them. "
                 "Each row is the Delta version currently in use and the run that wrote it.</p>")
    lineage = _lineage(spark, cat)
    parts.append(table(["table", "Delta version", "written by stage", "run", "at (UTC)"], lineage) if lineage
                 else muted("No successful stage run is recorded in mlhops/runs yet."))
    parts.append("<h3>Model</h3>")
    registered = _registry(tracker, names)
    parts.append(table(["model", "version", "aliases", "registered (ms)", "lineage tags"], registered) if registered
                 else muted("No registered model version (not trained yet, or the registry is not reachable)."))
    if table_exists(spark, cat, PERFORMANCE_METRICS):
        perf = read_table(spark, cat, PERFORMANCE_METRICS).where(
            (F.col("attribute") == "all") & (F.col("method") == "realized"))
        n_windows = perf.select("window_start").distinct().count()
        parts.append(f"<h3>Performance</h3><p>Realized performance is reported for {n_windows} window(s); "
                     "see the Performance section for values with bootstrap intervals.</p>")
    parts.append("<h3>Subgroups</h3><p>Performance and calibration are reported per "
                 f"{escape(', '.join(models.fairness.attributes))} "
                 f"with a minimum group size of {models.fairness.min_group_size}; smaller groups "
                 "are suppressed everywhere (see Fairness).</p>")
    parts.append(f"<h3>Limitations</h3><p>{escape(rs.limitations)}</p>")
    history: list[tuple[Any, ...]] = []
    if table_exists(spark, cat, MODEL_EVENTS):
        ev = read_table(spark, cat, MODEL_EVENTS).orderBy(F.col("event_time").desc()).limit(50).collect()
        history = [(str(e["event_time"])[:19], e["model_name"], e["action"], e["from_version"] or "—",
                    e["to_version"] or "—", e["reason"] or "") for e in ev]
    parts.append("<h3>Update history</h3>")
    parts.append(table(["when (UTC)", "model", "action", "from", "to", "reason"], history) if history
                 else muted("No explicit promote or rollback yet: the champion is the version training registered."))
    return "".join(parts)
