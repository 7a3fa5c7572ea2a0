"""The ``mlhops.alerts`` table: one row per (rule, subject, window), inserted once.

``alert_id`` is a hash of rule id, subject and window, so re-running the alert stage for the same
data finds the same ids and inserts nothing: no duplicate alerts. The row also carries its webhook
delivery state (``notify``, ``delivered_at``, ``delivery_attempts``: see :mod:`mlhops.alerts.outbox`),
queued in the same commit that stores the alert.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mlhops.io import Catalog, merge_into, read_table, table_exists
from mlhops.io.evolve import add_missing_columns
from mlhops.io.tables.operations import ALERTS, ALERTS_KEYS, ALERTS_SCHEMA, ALERTS_SPEC

# Columns the stage adds to a candidate when it stores it.
_STORED_ONLY = ("alert_id", "first_run_id", "raised_at", "notify", "delivered_at", "delivery_attempts")
DELIVERY_COLUMNS = ("notify", "delivered_at", "delivery_attempts")
# Hex digits of the sha256 kept as the alert id.
ALERT_ID_CHARS = 24

# What an evaluator returns (before ids and run metadata are added): the stored columns plus
# ``is_current``, in the latest window of its source table (drives the exit code; not stored).
CANDIDATE_SCHEMA = T.StructType(
    [f for f in ALERTS_SCHEMA.fields if f.name not in _STORED_ONLY]
    + [T.StructField("is_current", T.BooleanType(), False)]
)


def with_ids(candidates: DataFrame, run_id: str, *, notify: bool = False) -> DataFrame:
    """Add the deterministic ``alert_id``, run metadata and the delivery state (queued for the
    webhook when ``notify``); one row per id."""
    key = F.concat_ws(
        "|",
        "rule_id",
        "subject",
        F.coalesce(F.col("window_start").cast("string"), F.lit("")),
        F.coalesce(F.col("window_end").cast("string"), F.lit("")),
    )
    return (
        candidates.withColumn("alert_id", F.sha2(key, 256).substr(1, ALERT_ID_CHARS))
        .withColumn("first_run_id", F.lit(run_id))
        .withColumn("raised_at", F.current_timestamp())
        .withColumn("notify", F.lit(notify))
        .withColumn("delivered_at", F.lit(None).cast("timestamp"))
        .withColumn("delivery_attempts", F.lit(0))
        .dropDuplicates(["alert_id"])
        .select(*[f.name for f in ALERTS_SCHEMA.fields])
    )


def new_alerts(spark: SparkSession, catalog: Catalog, alerts: DataFrame) -> DataFrame:
    """The alerts not yet in the table (anti-join on ``alert_id``)."""
    if not table_exists(spark, catalog, ALERTS):
        return alerts
    known = read_table(spark, catalog, ALERTS).select("alert_id")
    return alerts.join(known, "alert_id", "left_anti")


def store_alerts(spark: SparkSession, catalog: Catalog, alerts: DataFrame) -> None:
    """Insert alerts whose id is new; existing ones (same rule, subject, window) are untouched.

    A table from before the delivery columns gains them first (null: never queued).
    """
    add_missing_columns(spark, catalog, ALERTS_SPEC)
    merge_into(alerts, catalog, ALERTS, list(ALERTS_KEYS), update=False)
