"""CSV files as all-string DataFrames with lineage (file name and physical line number).

Line numbers come from ``monotonically_increasing_id`` plus per-partition row offsets (one
small aggregation), so no row passes through Python. They are exact for files without blank
lines or quoted line breaks (Spark's CSV reader skips blank lines; Synthea writes neither).
``malformed`` is only reliable with ``spark.sql.csv.parser.columnPruning.enabled=false`` (the
ETL stage sets it for its run): with pruning, Spark does not compare field counts.

Inside :func:`input_cache` (the ETL stage opens one per run) every file read here is parsed
once: the line-count job fills a cache (memory, spilling to disk) that every later use of the
file (mapped rows, rejects, filtered rows, conservation counts) reads, and the block releases
it. Without it a file is re-parsed by each of those jobs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial

from py4j.protocol import Py4JJavaError
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mlhops.concurrency import run_all
from mlhops.errors import SchemaError
from mlhops.io.fs import read_first_line

CORRUPT = "_corrupt_record"
# monotonically_increasing_id puts the partition id in the upper 31 bits, the row index in the lower 33.
_ROW_BITS = 33
_HEADER_LINES = 1
# Separators of exports saved with another delimiter (a header read as one column holding them).
_OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}
# Frames persisted by reads inside the innermost open input_cache block (None: no block open).
_CACHED: ContextVar[list[DataFrame] | None] = ContextVar("mlhops_etl_input_cache", default=None)


@contextmanager
def input_cache() -> Iterator[None]:
    """Within the block, CSV files read by :func:`read_csv_with_lines` are parsed once and kept
    (memory and disk) until the block ends."""
    frames: list[DataFrame] = []
    token = _CACHED.set(frames)
    try:
        yield
    finally:
        _CACHED.reset(token)
        for df in frames:
            df.unpersist()


def read_all(spark: SparkSession, files: Sequence[tuple[str, str]], concurrent: int) -> list[tuple[DataFrame, int]]:
    """:func:`read_csv_with_lines` for each ``(source_table, path)``, ``concurrent`` files at a
    time (each file's line-count job is small; running them together hides their latency)."""
    # Each read runs in a copy of this context, so reads join the open input_cache block.
    return run_all([partial(read_csv_with_lines, spark, path, table) for table, path in files], concurrent, "csv-read")


def _cached(df: DataFrame) -> DataFrame:
    frames = _CACHED.get()
    if frames is None:
        return df
    kept = df.persist(StorageLevel.MEMORY_AND_DISK)
    frames.append(kept)
    return kept


def file_name(path: str) -> str:
    """The file name of a path (no folders), as errors and lineage name files."""
    return path.rsplit("/", 1)[-1]


def header_columns(spark: SparkSession, path: str) -> list[str]:
    """The header of a CSV file, names stripped of quotes and surrounding blanks (``[]`` for an
    empty file).

    Raises:
        SchemaError: the file cannot be read (a corrupt gzip file).
    """
    try:
        line = read_first_line(spark, path)
    except (Py4JJavaError, OSError, EOFError, UnicodeDecodeError) as exc:  # classic session / Connect client
        cause = exc.java_exception.getClass().getSimpleName() if isinstance(exc, Py4JJavaError) else type(exc).__name__
        raise SchemaError(f"CSV file {file_name(path)}: cannot be read ({cause}): is it a corrupt or truncated "
                          "gzip file? Re-export or remove it") from None
    return [c.strip().strip('"') for c in line.split(",")] if line else []


def check_header(file: str, header: Sequence[str]) -> None:
    """Fail early, naming the file and the column, on a header Spark could not read as this
    reader's all-string schema.

    Raises:
        SchemaError: no header line; a header of one column holding another delimiter (the file
            is not comma-separated); a column without a name before the last named one (unnamed
            trailing columns, left by a trailing comma, are allowed); a name that appears twice
            (names are compared ignoring case, as Spark does); a name with a backtick.
    """
    if not header or header == [""]:
        raise SchemaError(f"CSV file {file}: empty (no header line); re-export it or remove it from the input")
    if len(header) == 1:
        found = [name for sep, name in _OTHER_DELIMITERS.items() if sep in header[0]]
        if found:
            raise SchemaError(f"CSV file {file}: the header is one column with {found[0]} characters in it: the file "
                              "is not comma-separated; re-export it with ',' as the delimiter")
    seen: dict[str, int] = {}
    named = len(header) - next(i for i, name in enumerate(reversed(header)) if name)
    for i, name in enumerate(header[:named], start=1):
        if not name:
            raise SchemaError(f"CSV file {file}: column {i} of the header has no name")
        if "`" in name:
            raise SchemaError(f"CSV file {file}: column {i} of the header has a backtick in its name")
        if name.lower() in seen:
            raise SchemaError(f"CSV file {file}: column {name} appears twice in the header (columns {seen[name.lower()]} "
                              f"and {i}); column names must be unique")
        seen[name.lower()] = i


def with_line_numbers(df: DataFrame) -> tuple[DataFrame, int]:
    """Add ``source_line`` (1-based physical line, header = line 1) in the frame's read order.

    Runs one small job counting rows per partition (file splits are read in offset order).

    Returns:
        the frame with ``source_line`` and its row count.
    """
    indexed = df.withColumn("_pid", F.spark_partition_id())
    counts = sorted((int(r["_pid"]), int(r["_n"])) for r in indexed.groupBy("_pid").agg(F.count(F.lit(1)).alias("_n")).collect())
    offsets: list[tuple[int, int]] = []
    running = 0
    for pid, n in counts:
        offsets.append((pid, running))
        running += n
    offset = F.lit(0).cast("long")
    if offsets:
        offset = F.element_at(
            F.create_map(*[x for pid, off in offsets for x in (F.lit(pid), F.lit(off).cast("long"))]), F.col("_pid")
        )
    row_index = F.monotonically_increasing_id().bitwiseAND(F.lit((1 << _ROW_BITS) - 1))
    lined = indexed.withColumn("source_line", (offset + row_index + 1 + _HEADER_LINES).cast("long")).drop("_pid")
    return lined, running


def read_csv_with_lines(spark: SparkSession, path: str, source_table: str) -> tuple[DataFrame, int]:
    """Read one CSV file: every header column as a string, plus lineage and ``malformed``.

    ``malformed`` is true for rows whose number of fields differs from the header's.
    Empty strings become nulls.

    Args:
        spark: the session.
        path: the file (plain or gzip).
        source_table: logical table name recorded as lineage (e.g. ``"conditions"``).

    Returns:
        the frame and its number of data rows.

    Raises:
        SchemaError: the header cannot be read as named columns (see :func:`check_header`).
    """
    header = header_columns(spark, path)
    check_header(file_name(path), header)
    # Trailing unnamed columns get Spark's positional names.
    cols = [name or f"_c{i}" for i, name in enumerate(header)]
    schema = T.StructType([T.StructField(c, T.StringType(), True) for c in cols] + [
        T.StructField(CORRUPT, T.StringType(), True)
    ])
    raw = (
        spark.read.option("header", "true")
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .option("enforceSchema", "true")
        .schema(schema)
        .csv(path)
    )
    lined, n_rows = with_line_numbers(_cached(raw))
    name = file_name(path)
    return lined.select(
        F.lit(source_table).alias("source_table"),
        F.lit(name).alias("source_file"),
        "source_line",
        *[F.nullif(F.col(f"`{c}`"), F.lit("")).alias(c) for c in cols],
        F.col(CORRUPT).isNotNull().alias("malformed"),
    ), n_rows
