"""Read-only helpers behind the notebooks: alert views of every kind, window comparison, model comparison.

Everything returned is an aggregate (pandas, small): profile metrics, drift results, model
metrics. Nothing here reads raw patient rows.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mlhops.errors import MLHOpsError
from mlhops.io import Catalog, read_table, table_exists
from mlhops.io.tables.models import PERFORMANCE_METRICS
from mlhops.io.tables.monitoring import PROFILE_METRICS
from mlhops.io.tables.operations import ALERTS
from mlhops.reporting import alert_panels
from mlhops.reporting.alert_panels import Panel


def _need(spark: SparkSession, cat: Catalog, name: str) -> None:
    if not table_exists(spark, cat, name):
        raise MLHOpsError(f"{name} does not exist yet: run the stage that writes it (see README)")


@dataclass(frozen=True)
class AlertView:
    """An alert with what its runbook asks to look at (see :mod:`mlhops.reporting.alert_panels`)."""

    alert: dict[str, object]
    kind: str
    subject: dict[str, str]  # parsed parts of the subject (empty: a kind or format without its own panels)
    runbook: str  # the runbook section's text ("" when the runbook file is not found)
    panels: tuple[Panel, ...]

    def panel(self, key: str) -> Panel:
        """The panel with this key.

        Raises:
            KeyError: the view has no such panel.
        """
        for p in self.panels:
            if p.key == key:
                return p
        raise KeyError(f"no panel {key!r} for a {self.kind} alert")


def latest_alert(spark: SparkSession, cat: Catalog, alert_id: str | None = None,
                 kind: str | None = None) -> dict[str, object] | None:
    """The alert ``alert_id``, else the most recent alert (of ``kind`` when given); None if none.

    Raises:
        MLHOpsError: ``alert_id`` names no alert.
    """
    _need(spark, cat, ALERTS)
    alerts = read_table(spark, cat, ALERTS)
    if alert_id:
        alerts = alerts.where(F.col("alert_id") == alert_id)
    elif kind:
        alerts = alerts.where(F.col("kind") == kind)
    row = alerts.orderBy(F.col("window_start").desc_nulls_last(), F.col("raised_at").desc(), "alert_id").first()
    if row is None and alert_id:
        raise MLHOpsError(f"no alert with id {alert_id}")
    return None if row is None else row.asDict()


def runbook_section(runbook: str, root: Path | None = None) -> str:
    """The text of a runbook section named like ``docs/runbooks/drift.md#univariate-drift``.

    Args:
        runbook: the alert's runbook reference (file relative to the repository, ``#`` section).
        root: the repository root (default: the one this package was installed from).

    Returns:
        The section from its heading to the next heading of the same level; "" when not found.
    """
    path, _, anchor = runbook.partition("#")
    base = root or Path(__file__).resolve().parents[3]
    file = base / path
    if not file.is_file():
        return ""
    lines = file.read_text(encoding="utf-8").splitlines()
    out: list[str] = []
    level = 0
    for line in lines:
        m = re.match(r"^(#+)\s+(.*)$", line)
        if m and out and len(m.group(1)) <= level:
            break
        if m and not out and (not anchor or _slug(m.group(2)) == anchor):
            level = len(m.group(1))
        if level:
            out.append(line)
    return "\n".join(out).strip()


def _slug(heading: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", heading.lower()).strip().replace(" ", "-")


def alert_view(spark: SparkSession, cat: Catalog, alert_id: str | None = None, kind: str | None = None,
               root: Path | None = None) -> AlertView | None:
    """What the on-call person needs for an alert of any kind.

    Every alert gets its own history (same rule and subject over windows) and the other alerts
    of its window; a known kind adds the panels its runbook promises (``alert_panels.PANELS``),
    a model-lifecycle kind without its own panels the model tables' rows of its window.

    Args:
        spark: the session.
        cat: the warehouse.
        alert_id: the alert (default: the most recent, of ``kind`` when given).
        kind: restrict the default to this alert kind.
        root: repository root holding ``docs/runbooks`` (default: this package's).

    Returns:
        The view, or None when no alert (of ``kind``) has been raised.
    """
    alert = latest_alert(spark, cat, alert_id, kind)
    if alert is None:
        return None
    k = str(alert["kind"])
    parts = alert_panels.parse_subject(k, str(alert["subject"]))
    panels = [alert_panels.alert_history(spark, cat, alert)]
    builder = alert_panels.PANELS.get(k)
    if builder is not None and parts:
        panels += builder(spark, cat, alert, parts)
    else:
        panels += alert_panels.model_table_panels(spark, cat, alert)
    panels.append(alert_panels.same_window_alerts(spark, cat, alert))
    return AlertView(alert=alert, kind=k, subject=parts, runbook=runbook_section(str(alert["runbook"]), root),
                     panels=tuple(panels))


def compare_windows(
    spark: SparkSession,
    cat: Catalog,
    granularity: str,
    window_a: dt.date,
    window_b: dt.date,
    slice_name: str = "all",
    slice_value: str = "all",
) -> pd.DataFrame:
    """Side-by-side profile of every feature in two windows, with differences."""
    _need(spark, cat, PROFILE_METRICS)
    prof = read_table(spark, cat, PROFILE_METRICS).where(
        (F.col("granularity") == granularity) & (F.col("slice") == slice_name) & (F.col("slice_value") == slice_value)
        & F.col("window_start").isin(window_a, window_b)
    )
    median = F.expr("filter(quantiles, x -> x.q = 0.5)[0].value")
    pdf = prof.select("feature", "kind", "window_start", "n", "null_fraction", "mean", "stddev",
                      median.alias("median")).toPandas()
    if pdf.empty:
        raise MLHOpsError(f"no profile metrics for {granularity} windows {window_a} / {window_b}")
    a = pdf[pdf.window_start == window_a].set_index("feature")
    b = pdf[pdf.window_start == window_b].set_index("feature")
    out = a[["kind"]].join(a[["n", "null_fraction", "mean", "median"]].add_suffix("_a"), how="outer")
    out = out.join(b[["n", "null_fraction", "mean", "median"]].add_suffix("_b"), how="outer")
    out["mean_diff"] = out["mean_b"] - out["mean_a"]
    out["null_fraction_diff"] = out["null_fraction_b"] - out["null_fraction_a"]
    sd = a["stddev"].reindex(out.index)
    out["standardized_mean_diff"] = out["mean_diff"] / sd.where(sd > 0)
    return out.reset_index().sort_values("standardized_mean_diff", key=lambda s: s.abs(), ascending=False)


def model_comparison(spark: SparkSession, cat: Catalog, model_name: str | None = None) -> pd.DataFrame:
    """Champion vs challenger: latest realized metrics per version, side by side."""
    if not table_exists(spark, cat, PERFORMANCE_METRICS):
        return pd.DataFrame()  # nothing scored and evaluated yet
    perf = read_table(spark, cat, PERFORMANCE_METRICS).where(F.col("attribute") == "all")
    if model_name:
        perf = perf.where(F.col("model_name") == model_name)
    pdf = perf.select("model_name", "model_version", "method", "window_start", "metric", "estimate",
                      "ci_lower", "ci_upper", "n").toPandas()
    if pdf.empty:
        return pdf
    latest = pdf.sort_values("window_start").groupby(["model_version", "method", "metric"]).tail(1)
    return latest.pivot_table(index=["method", "metric"], columns="model_version", values="estimate").reset_index()
