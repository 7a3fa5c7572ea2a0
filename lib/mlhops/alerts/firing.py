"""Raise the alerts of one run: evaluate the rules, store new alerts once, and count those in
scope at or above the exit severity (they make the run exit with code 3)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.alerts.evaluate import evaluate_rules
from mlhops.alerts.rules import AlertRule, at_or_above
from mlhops.alerts.store import DELIVERY_COLUMNS, new_alerts, store_alerts, with_ids
from mlhops.io import Catalog


@dataclass(frozen=True)
class RaisedAlerts:
    """What one run raised.

    Attributes:
        new: alerts stored by this run (column values, without ``raised_at``), for the webhook.
        firing: candidates in scope at or above the exit severity.
        by_severity: candidates in scope per severity.
    """

    new: list[dict[str, Any]]
    firing: int
    by_severity: dict[str, int]


def in_scope(start: dt.date | None, end: dt.date | None) -> Column:
    """Candidates that count for the run's status: windows starting in ``[start, end)`` when both
    are given, else those in the latest window of their source table."""
    if start is not None and end is not None:
        return (F.col("window_start") >= F.lit(start)) & (F.col("window_start") < F.lit(end))
    return F.col("is_current")


def _count_in_scope(candidates: DataFrame, scope: Column, exit_severity: str) -> tuple[int, dict[str, int]]:
    """Candidates in scope per severity (one pass), and how many of them are at or above the
    exit severity."""
    rows = candidates.where(scope).groupBy("severity").count().collect()
    by_severity = {r["severity"]: int(r["count"]) for r in rows}
    firing = sum(n for severity, n in by_severity.items() if at_or_above(severity, exit_severity))
    return firing, by_severity


def raise_alerts(
    spark: SparkSession,
    catalog: Catalog,
    rules: Sequence[AlertRule],
    *,
    run_id: str,
    exit_severity: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    notify: bool = False,
) -> RaisedAlerts:
    """Evaluate ``rules``, insert the alerts not stored yet and count those in scope.

    Args:
        spark: the session.
        catalog: the warehouse (rule source tables and ``mlhops.alerts``).
        rules: the alert rules.
        run_id: recorded as ``first_run_id`` of new alerts.
        exit_severity: the least severity that counts as firing.
        start: with ``end``, the windows in scope (see :func:`in_scope`).
        end: see ``start``.
        notify: queue the new alerts for the webhook (delivered by :mod:`mlhops.alerts.outbox`).
    """
    candidates = evaluate_rules(spark, catalog, rules).cache()
    try:
        firing, by_severity = _count_in_scope(candidates, in_scope(start, end), exit_severity)
        alerts = with_ids(candidates, run_id, notify=notify).cache()
        new = [r.asDict() for r in new_alerts(spark, catalog, alerts).drop("raised_at", *DELIVERY_COLUMNS).collect()]
        store_alerts(spark, catalog, alerts)
        alerts.unpersist()
    finally:
        candidates.unpersist()
    return RaisedAlerts(new=new, firing=firing, by_severity=by_severity)
