"""Tables owned by the operations area: data-quality results and alerts.

Neither holds patient data: quality results are counts per check and window, alerts name a rule,
a subject (feature, check, model, source table) and a window.
"""

from __future__ import annotations

from pyspark.sql import types as T

from mlhops.io.tables.spec import TableSpec, struct

QUALITY_RESULTS = "mlhops.quality_results"
ALERTS = "mlhops.alerts"

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
)
ALERTS_KEYS: tuple[str, ...] = ("alert_id",)

TABLES: tuple[TableSpec, ...] = (
    TableSpec(QUALITY_RESULTS, QUALITY_RESULTS_SCHEMA, QUALITY_RESULTS_KEYS, (), "quality",
              "per check and window: rows checked and failing, threshold, pass/fail (Kahn category)"),
    TableSpec(ALERTS, ALERTS_SCHEMA, ALERTS_KEYS, (), "alerts",
              "one row per (rule, subject, window), inserted once: severity, message, runbook"),
)
