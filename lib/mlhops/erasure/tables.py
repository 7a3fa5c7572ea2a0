"""The erasure record: ``mlhops.erasures`` (who, when, why, how many; never an id)."""

from __future__ import annotations

from pyspark.sql import types as T

from mlhops.io.tables.spec import TableSpec, struct

ERASURES = "mlhops.erasures"

ERASURES_SCHEMA = struct(
    ("erasure_id", T.StringType(), False),
    ("requested_at", T.TimestampType(), False),
    ("completed_at", T.TimestampType(), False),
    ("erased_by", T.StringType(), False),
    ("reason", T.StringType(), False),
    ("source", T.StringType(), False),
    ("n_ids", T.LongType(), False),  # ids in the request
    ("n_persons", T.LongType(), False),  # of them, persons found in the warehouse
    ("rows_deleted", T.MapType(T.StringType(), T.LongType(), False), False),  # per table
    ("flagged", T.ArrayType(T.StringType(), False), False),  # "model@version" flagged for retraining
    ("vacuum_retention_hours", T.DoubleType(), False),
    ("status", T.StringType(), False),  # complete | no_op | incomplete (verification found traces)
    ("traces", T.MapType(T.StringType(), T.LongType(), False), False),  # per table, when incomplete
    ("run_id", T.StringType(), False),
)
ERASURES_SPEC = TableSpec(
    ERASURES, ERASURES_SCHEMA, ("erasure_id",), (), "erase",
    "one row per erasure request: who, when, reason, source, persons and rows removed per table, models flagged",
)
