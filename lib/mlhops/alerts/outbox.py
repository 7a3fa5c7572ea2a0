"""Webhook delivery at least once: the alerts table is the outbox.

An alert raised while a webhook is configured is stored with ``notify`` set and ``delivered_at``
null, in the same commit as the alert itself, so no crash can store an alert and forget to send
it. Every run of the alerts stage posts every queued, undelivered alert (this run's and any an
earlier run failed to deliver), oldest first, in batches; a batch the endpoint accepts gets
``delivered_at``, a refused one counts a ``delivery_attempts`` and stays queued for the next run.
A crash between the post and its record re-sends that batch: at least once, never lost. Each
alert carries its stable ``alert_id``, so a receiver can drop repeats.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mlhops.alerts.store import DELIVERY_COLUMNS
from mlhops.alerts.webhook import post_alerts
from mlhops.io import Catalog, merge_into, read_table, table_exists
from mlhops.io.tables.operations import ALERTS, ALERTS_KEYS, ALERTS_SCHEMA

logger = logging.getLogger(__name__)

BATCH = 200


@dataclass(frozen=True)
class Delivery:
    """What one run delivered and what stays queued."""

    delivered: int
    pending: int


def queued(spark: SparkSession, catalog: Catalog) -> list[dict[str, Any]]:
    """Undelivered alerts queued for the webhook, oldest first (all columns)."""
    if not table_exists(spark, catalog, ALERTS):
        return []
    df = read_table(spark, catalog, ALERTS)
    if "notify" not in df.columns:
        return []
    rows = df.where(F.col("notify") & F.col("delivered_at").isNull()).orderBy("raised_at", "alert_id").collect()
    return [r.asDict() for r in rows]


def _record(spark: SparkSession, catalog: Catalog, rows: list[dict[str, Any]], delivered_at: dt.datetime | None) -> None:
    updated = [{**r, "delivery_attempts": int(r["delivery_attempts"] or 0) + 1,
                "delivered_at": delivered_at} for r in rows]
    df = spark.createDataFrame([tuple(u[f.name] for f in ALERTS_SCHEMA.fields) for u in updated], ALERTS_SCHEMA)
    merge_into(df, catalog, ALERTS, list(ALERTS_KEYS))


def deliver(spark: SparkSession, catalog: Catalog, url: str, *, run_id: str) -> Delivery:
    """Post every queued alert to ``url`` in batches and record each batch's outcome."""
    rows = queued(spark, catalog)
    delivered = 0
    for i in range(0, len(rows), BATCH):
        batch = rows[i:i + BATCH]
        payload = [{k: v for k, v in r.items() if k not in DELIVERY_COLUMNS} for r in batch]
        ok = post_alerts(url, payload, run_id=run_id)
        _record(spark, catalog, batch, dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) if ok else None)
        if not ok:
            logger.error("webhook refused a batch: %d alert(s) stay queued for the next run", len(rows) - delivered)
            break
        delivered += len(batch)
    return Delivery(delivered, len(rows) - delivered)
