"""Assemble the self-contained HTML monitoring report for one run."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from pyspark.sql import SparkSession

from mlhops import __version__
from mlhops.config.model import Settings
from mlhops.io import Catalog
from mlhops.reporting import model_card, sections
from mlhops.reporting.html import page

logger = logging.getLogger(__name__)


def build_report(spark: SparkSession, settings: Settings, run_id: str) -> str:
    """The whole report as one HTML string (inline CSS and PNG plots; no network needed)."""
    cat = Catalog(settings.warehouse)
    mg = settings.models.fairness.min_group_size
    parts = [
        ("alerts", "Alerts", sections.alerts(spark, cat, run_id)),
        ("pipeline", "This run", sections.pipeline(spark, cat, run_id)),
        ("etl", "ETL and quarantine", sections.etl(spark, cat)),
        ("quality", "Data quality", sections.quality(spark, cat)),
        ("drift", "Feature drift over time", sections.drift(spark, cat, settings.report.max_windows)),
        ("multivariate", "Multivariate drift", sections.multivariate(spark, cat)),
        ("performance", "Performance and calibration", sections.performance(spark, cat)),
        ("fairness", "Fairness", sections.fairness(spark, cat, mg)),
        ("model-card", "Model card", model_card.render(spark, settings)),
    ]
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = f"run {run_id} · generated {now} · environment {settings.environment} · mlhops {__version__}"
    return page(settings.report.title, subtitle, parts)


def write_report(spark: SparkSession, settings: Settings, run_id: str) -> Path:
    """Write ``<warehouse>/reports/report-<run_id>.html`` (and ``latest.html``); returns the path.

    Local warehouses only; on object storage the report goes to MLflow as an artifact.
    """
    html = build_report(spark, settings, run_id)
    out_dir = Path(Catalog(settings.warehouse).reports_dir.replace("file://", ""))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"report-{run_id}.html"
    path.write_text(html, encoding="utf-8")
    (out_dir / "latest.html").write_text(html, encoding="utf-8")
    logger.info("report written: %s", path)
    return path
