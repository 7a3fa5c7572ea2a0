"""Tables owned by the operations area: data-quality results and alerts.

Neither holds patient data: quality results are counts per check and window, alerts name a rule,
a subject (feature, check, model, source table) and a window.
"""

from __future__ import annotations

from pyspark.sql import types as T

from mlhops.io.tables.spec import TableSpec, struct

QUALITY_RESULTS = "mlhops.quality_results"
ALERTS = "mlhops.alerts"
WAREHOUSE_IDENTITY = "mlhops.warehouse_identity"

QUALITY_RESULTS_SCHEMA = struct(
    ("check_id", T.StringType(), False),
    ("check_type", T.StringType(), False),
    ("category", T.StringType(), False),
    ("subcategory", T.StringType(), False),
    ("table_name", T.StringType(), False),
    ("field", T.StringType()),
    ("granularity", T.StringType(), False),
    ("window_start", T.DateType(), False),
    ("window_end", T.DateType(), False),
    ("rows_checked", T.LongType(), False),
    ("rows_failing", T.LongType(), False),
    ("pct_failing", T.DoubleType(), False),
    ("threshold_pct", T.DoubleType(), False),
    ("status", T.StringType(), False),
    ("description", T.StringType(), False),
)
QUALITY_RESULTS_KEYS: tuple[str, ...] = ("check_id", "granularity", "window_start")

ALERTS_SCHEMA = struct(
    ("alert_id", T.StringType(), False),
    ("rule_id", T.StringType(), False),
    ("kind", T.StringType(), False),
    ("severity", T.StringType(), False),
    ("subject", T.StringType(), False),
    ("window_start", T.TimestampType()),
    ("window_end", T.TimestampType()),
    ("value", T.DoubleType()),
    ("threshold", T.DoubleType()),
    ("message", T.StringType(), False),
    ("runbook", T.StringType(), False),
    ("first_run_id", T.StringType(), False),
    ("raised_at", T.TimestampType(), False),
    # The webhook outbox, in the alert's own row so queueing commits with the alert: ``notify``
    # (a webhook was configured when it was raised), ``delivered_at`` (null until the endpoint
    # accepted it), ``delivery_attempts``. Added later: older tables gain them (null) on first use.
    ("notify", T.BooleanType()),
    ("delivered_at", T.TimestampType()),
    ("delivery_attempts", T.IntegerType()),
)
ALERTS_KEYS: tuple[str, ...] = ("alert_id",)
ALERTS_SPEC = TableSpec(ALERTS, ALERTS_SCHEMA, ALERTS_KEYS, (), "alerts",
                        "one row per (rule, subject, window), inserted once: severity, message, runbook, "
                        "webhook delivery")
# Facts fixed for a warehouse's life (io.warehouse_identity): the de-identification salt's fingerprint.
WAREHOUSE_IDENTITY_SCHEMA = struct(
    ("name", T.StringType(), False),
    ("value", T.StringType(), False),
    ("recorded_at", T.TimestampType(), False),
)
WAREHOUSE_IDENTITY_KEYS: tuple[str, ...] = ("name",)

TABLES: tuple[TableSpec, ...] = (
    TableSpec(QUALITY_RESULTS, QUALITY_RESULTS_SCHEMA, QUALITY_RESULTS_KEYS, (), "quality",
              "per check and window: rows checked and failing, threshold, pass/fail (Kahn category)"),
    ALERTS_SPEC,
    TableSpec(WAREHOUSE_IDENTITY, WAREHOUSE_IDENTITY_SCHEMA, WAREHOUSE_IDENTITY_KEYS, (), "orchestrator",
              "facts fixed for the warehouse's life: the de-identification salt's fingerprint"),
)
