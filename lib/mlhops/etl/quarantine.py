"""``mlhops.quarantine``: source rows that could not be loaded, with where and why (no values).

``source_table`` and ``source_file`` come from the input (file names, resource types): they pass
:func:`mlhops.etl.sanitize.safe_label_col` on the way in, so a planted name never reaches the table.

Idempotent per run input: rows are MERGEd on (source, source_table, source_file,
file_sha256, source_line, field, reason), so re-running the same input records each problem once
(its ``run_id`` is that of the latest run that saw it).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mlhops.etl.files import InputFile
from mlhops.etl.sanitize import safe_label_col
from mlhops.io import Catalog, merge_into
from mlhops.io.tables.etl import QUARANTINE, QUARANTINE_KEYS


def quarantine_rows(
    rejects: DataFrame, *, run_id: str, source: str, files: list[InputFile], recorded_at: F.Column | None = None
) -> DataFrame:
    """Shape reject rows (lineage + field + reason) into the quarantine schema
    (:data:`mlhops.io.tables.etl.QUARANTINE_SCHEMA`).

    A row rejected for several reasons keeps only its first one (one quarantine row per source row).
    """
    # One flat map lookup, not a CASE nested per file: thousands of DICOM files would nest past
    # the depth a Spark Connect plan can carry (its protobuf recursion limit). Same name twice:
    # the last file listed wins, as before.
    by_name = {f.name: f.sha256 for f in files}
    sha = (F.element_at(F.create_map(*(F.lit(v) for kv in by_name.items() for v in kv)), F.col("source_file"))
           if by_name else F.lit(None)).cast("string")
    first = rejects.dropDuplicates(["source_table", "source_file", "source_line"])
    return first.select(
        F.lit(run_id).alias("run_id"),
        F.lit(source).alias("source"),
        safe_label_col(F.col("source_table"), prefix="table").alias("source_table"),
        safe_label_col(F.col("source_file"), prefix="file").alias("source_file"),
        sha.alias("file_sha256"),
        F.col("source_line").cast("long").alias("source_line"),
        "field",
        "reason",
        (recorded_at if recorded_at is not None else F.current_timestamp()).alias("recorded_at"),
    )


def write_quarantine(rows: DataFrame, catalog: Catalog) -> None:
    """MERGE quarantine rows into ``mlhops.quarantine``.

    ``run_id``/``recorded_at`` are not part of the key, so a re-run does not duplicate rows;
    matched rows are left as first recorded.
    """
    merge_into(rows, catalog, QUARANTINE, keys=list(QUARANTINE_KEYS), update=False)
