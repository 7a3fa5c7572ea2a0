"""``mlhops.quarantine``: source rows that could not be loaded, with where and why (no values).

Idempotent per run input: rows are MERGEd on (source, source_table, source_file,
file_sha256, source_line, field, reason), so re-running the same input records each problem once
(its ``run_id`` is that of the latest run that saw it).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mlhops.etl.files import InputFile
from mlhops.io import Catalog, merge_into

QUARANTINE_TABLE = "mlhops.quarantine"
QUARANTINE_SCHEMA = T.StructType(
    [
        T.StructField("run_id", T.StringType(), False),
        T.StructField("source", T.StringType(), False),
        T.StructField("source_table", T.StringType(), False),
        T.StructField("source_file", T.StringType(), False),
        T.StructField("file_sha256", T.StringType(), True),
        T.StructField("source_line", T.LongType(), False),
        T.StructField("field", T.StringType(), True),
        T.StructField("reason", T.StringType(), False),
        T.StructField("recorded_at", T.TimestampType(), False),
    ]
)
QUARANTINE_KEYS = ["source", "source_table", "source_file", "file_sha256", "source_line", "field", "reason"]


def quarantine_rows(
    rejects: DataFrame, *, run_id: str, source: str, files: list[InputFile], recorded_at: F.Column | None = None
) -> DataFrame:
    """Shape reject rows (lineage + field + reason) into ``QUARANTINE_SCHEMA``.

    A row rejected for several reasons keeps only its first one (one quarantine row per source row).
    """
    sha = F.lit(None).cast("string")
    for f in files:
        sha = F.when(F.col("source_file") == f.name, F.lit(f.sha256)).otherwise(sha)
    first = rejects.dropDuplicates(["source_table", "source_file", "source_line"])
    return first.select(
        F.lit(run_id).alias("run_id"),
        F.lit(source).alias("source"),
        "source_table",
        "source_file",
        sha.alias("file_sha256"),
        F.col("source_line").cast("long").alias("source_line"),
        "field",
        "reason",
        (recorded_at if recorded_at is not None else F.current_timestamp()).alias("recorded_at"),
    )


def write_quarantine(rows: DataFrame, catalog: Catalog) -> None:
    """MERGE quarantine rows (``QUARANTINE_SCHEMA``) into ``mlhops.quarantine``.

    ``run_id``/``recorded_at`` are not part of the key, so a re-run does not duplicate rows;
    matched rows are left as first recorded.
    """
    merge_into(rows, catalog, QUARANTINE_TABLE, keys=QUARANTINE_KEYS, update=False)
