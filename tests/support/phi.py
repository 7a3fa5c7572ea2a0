"""Scan a warehouse's Delta tables for identifiers (tests that check no PHI leaves the raw zone)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

_TEXTUAL = (T.StringType, T.ArrayType, T.MapType, T.StructType)


def delta_tables(root: Path) -> list[Path]:
    """Every Delta table folder under ``root``."""
    return sorted({p.parent for p in root.rglob("_delta_log")})


def table_text(spark: SparkSession, table: Path) -> str:
    """The distinct non-null values of every textual column of a table, as strings, one per line."""
    df = spark.read.format("delta").load(str(table))
    cols = [F.col(f"`{f.name}`").cast("string") for f in df.schema.fields if isinstance(f.dataType, _TEXTUAL)]
    if not cols:
        return ""
    values = df.select(F.explode(F.array(*cols)).alias("v")).where(F.col("v").isNotNull()).distinct()
    return "\n".join(r["v"] for r in values.collect())


def tables_with_hits(spark: SparkSession, root: Path, tables: list[Path],
                     hits: Callable[[str], list[str]]) -> dict[str, list[str]]:
    """``{table path under root: what hits found in its text}`` for the tables where it found any."""
    found: dict[str, list[str]] = {}
    for table in tables:
        if found_here := hits(table_text(spark, table)):
            found[str(table.relative_to(root))] = found_here
    return found
