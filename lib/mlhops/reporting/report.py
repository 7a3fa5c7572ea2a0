"""Assemble the self-contained HTML monitoring report for one run."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.sql import SparkSession

from mlhops import __version__
from mlhops.io import Catalog
from mlhops.reporting import checklist, drift_sections, model_card, model_sections, sections
from mlhops.reporting.html import page

if TYPE_CHECKING:
    from mlhops.config.stages import ChecklistSettings, ModelSettings, ReportSettings
    from mlhops.hashing import KeyedHasher
    from mlhops.tracking import Tracker

logger = logging.getLogger(__name__)


def build_report(
    spark: SparkSession,
    cat: Catalog,
    tracker: Tracker,
    *,
    report: ReportSettings,
    models: ModelSettings,
    environment: str,
    run_id: str,
    hasher: KeyedHasher | None = None,
    records: ChecklistSettings | None = None,
    checklist_items: list[checklist.ChecklistItem] | None = None,
) -> str:
    """The whole report as one HTML string (inline CSS and PNG plots; no network needed).

    Args:
        spark: the session.
        cat: the warehouse whose platform tables the report reads.
        tracker: the MLflow tracker (registry facts of the model card).
        report: the ``report`` settings (title, window count, model-card texts).
        models: the ``models`` settings (task, fairness).
        environment: named in the subtitle.
        run_id: the run the report belongs to.
        hasher: the keyed hasher of the inference log (``ctx.hasher``); the reliability diagram
            matches labels to scores with it and says so when it is missing.
        records: the team's ``governance.checklist`` records (model card, checklist); None: none recorded.
        checklist_items: the checklist when the caller gathered it already (:func:`gather_checklist`).
    """
    from mlhops.config.stages import ChecklistSettings

    records = records or ChecklistSettings()
    items = checklist_items if checklist_items is not None else gather_checklist(spark, cat, tracker, records)
    mg = models.fairness.min_group_size
    parts = [
        ("alerts", "Alerts", sections.alerts(spark, cat, run_id)),
        ("pipeline", "This run", sections.pipeline(spark, cat, run_id)),
        ("etl", "ETL and quarantine", sections.etl(spark, cat)),
        ("quality", "Data quality", sections.quality(spark, cat)),
        ("drift", "Feature drift over time", drift_sections.drift(spark, cat, report.max_windows)),
        ("multivariate", "Multivariate drift", drift_sections.multivariate(spark, cat)),
        ("performance", "Performance: realized and estimated (CBPE)",
         model_sections.performance(spark, cat, tracker, models.task)),
        ("calibration", "Calibration", model_sections.calibration(spark, cat, hasher, models)),
        ("fairness", "Fairness", model_sections.fairness(spark, cat, mg)),
        ("model-monitoring", "Label shift, concept drift, triggers, label requests and promotion",
         model_sections.monitoring(spark, cat)),
        ("importance", "Model explanations: global importance, champion vs challenger",
         model_sections.importance(spark, cat, tracker, models.explain.top_k)),
        ("importance-drift", "Importance profile over windows",
         model_sections.importance_drift(spark, cat, models.explain.min_rank_correlation)),
        ("model-card", "Model card", model_card.render(spark, cat, tracker, report, models, records)),
        ("checklist", "MLHOps checklist: evidence", checklist.render_html(items)),
    ]
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = f"run {run_id} · generated {now} · environment {environment} · mlhops {__version__}"
    return page(report.title, subtitle, parts)


def gather_checklist(spark: SparkSession, cat: Catalog, tracker: Tracker | None,
                     records: ChecklistSettings) -> list[checklist.ChecklistItem]:
    """The checklist items of the warehouse's models (see :mod:`mlhops.reporting.checklist`)."""
    return checklist.gather(spark, cat, tracker, model_card.model_names(spark, cat), records)


def write_report(html: str, cat: Catalog, run_id: str, checklist_md: str | None = None) -> Path:
    """Write ``<warehouse>/reports/report-<run_id>.html`` (and ``latest.html``); returns the path.

    With ``checklist_md``, the checklist's Markdown export goes beside it
    (``checklist-<run_id>.md`` and ``checklist.md``). Local warehouses only; on object storage
    the report goes to MLflow as an artifact.
    """
    out_dir = Path(cat.reports_dir.replace("file://", ""))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"report-{run_id}.html"
    path.write_text(html, encoding="utf-8")
    (out_dir / "latest.html").write_text(html, encoding="utf-8")
    if checklist_md is not None:
        (out_dir / f"checklist-{run_id}.md").write_text(checklist_md, encoding="utf-8")
        (out_dir / "checklist.md").write_text(checklist_md, encoding="utf-8")
    logger.info("report written: %s", path)
    return path


def log_report(tracker: Tracker, path: Path, run_id: str) -> None:
    """Log the report file to MLflow (``reports/``); a tracking outage is logged, not raised (the
    file is written already)."""
    try:
        import mlflow

        with tracker.run("report", tags={"mlhops.run_id": run_id}):
            mlflow.log_artifact(str(path), artifact_path="reports")
    except Exception:  # noqa: BLE001 - the file is written; tracking outage is logged, not fatal
        logger.warning("report not logged to MLflow", exc_info=True)
