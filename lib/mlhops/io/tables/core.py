"""Tables of the orchestrator: run lineage and incremental watermarks."""

from __future__ import annotations

from pyspark.sql import types as T

from mlhops.io.tables.spec import TableSpec, struct

RUNS = "mlhops.runs"
STAGE_WATERMARKS = "mlhops.stage_watermarks"
WRITER_LEASE = "mlhops.writer_lease"

RUNS_SCHEMA = struct(
    ("run_id", T.StringType(), False),
    ("stage", T.StringType(), False),
    ("status", T.StringType(), False),
    ("window_start", T.DateType()),
    ("window_end", T.DateType()),
    ("fingerprint", T.StringType()),
    ("started_at", T.TimestampType(), False),
    ("ended_at", T.TimestampType(), False),
    ("duration_s", T.DoubleType(), False),
    ("message", T.StringType()),
    ("metrics", T.MapType(T.StringType(), T.DoubleType())),
    ("tables", T.MapType(T.StringType(), T.LongType())),
    ("details_json", T.StringType()),
    ("params_json", T.StringType()),
    ("mlflow_run_id", T.StringType()),
    ("environment", T.StringType(), False),
    ("mlhops_version", T.StringType(), False),
)

# At most one row per scope: the run that may write the warehouse now (see mlhops.io.lease).
WRITER_LEASE_SCHEMA = struct(
    ("scope", T.StringType(), False),
    ("owner", T.StringType(), False),  # run id of the holder
    ("stage", T.StringType(), False),
    ("token", T.StringType(), False),  # random per claim: tells two holders with one run id apart
    ("acquired_at", T.TimestampType(), False),
    ("heartbeat_at", T.TimestampType(), False),
    ("expires_at", T.TimestampType(), False),
)

TABLES: tuple[TableSpec, ...] = (
    TableSpec(RUNS, RUNS_SCHEMA, ("run_id", "stage"), (), "orchestrator",
              "one row per (run, stage): status, window, timings, Delta versions written, counts"),
    TableSpec(WRITER_LEASE, WRITER_LEASE_SCHEMA, ("scope",), (), "orchestrator",
              "the warehouse writer lease: which run may write now, since when, until when"),
)
