"""Try-parsing of source strings into typed columns, with a reject reason instead of an error.

A *check* is ``(field, failed_condition, reason)``; :func:`first_failure` folds a list of checks
into one struct column ``{field, reason}`` (null when the row is fine), evaluated in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

Check = tuple[str | None, Column, str]

REJECT = "_reject"


def ts(col: str | Column) -> Column:
    """ISO-8601 date or timestamp (``2023-01-27``, ``2023-01-27T16:17:47Z``) -> UTC timestamp."""
    c = F.col(col) if isinstance(col, str) else col
    return c.try_cast("timestamp")


def num(col: str | Column) -> Column:
    """Decimal text -> double; null when unparseable."""
    c = F.col(col) if isinstance(col, str) else col
    return c.try_cast("double")


def integer(col: str | Column) -> Column:
    """Integer text -> int; null when unparseable."""
    c = F.col(col) if isinstance(col, str) else col
    return c.try_cast("double").try_cast("int")


def required(field: str) -> Check:
    """The raw field must be present."""
    return (field, F.col(field).isNull(), "missing required value")


def parses(field: str, parsed: Column, kind: str) -> Check:
    """A present raw value must parse (``kind`` names the expected type in the reason)."""
    return (field, F.col(field).isNotNull() & parsed.isNull(), f"unparseable {kind}")


def first_failure(checks: Sequence[Check]) -> Column:
    """Struct ``{field, reason}`` of the first failing check, null when none fails."""
    whens = [
        F.when(cond, F.struct(F.lit(field).cast("string").alias("field"), F.lit(reason).alias("reason")))
        for field, cond, reason in checks
    ]
    if not whens:
        return F.lit(None).cast("struct<field:string,reason:string>")
    return F.coalesce(*whens)


def split_rejects(df: DataFrame, checks: Sequence[Check]) -> tuple[DataFrame, DataFrame]:
    """Split a lineage-carrying frame into (rows passing every check, reject rows).

    Reject rows have ``source_table, source_file, source_line, field, reason``.
    """
    malformed: list[Check] = [(None, F.col("malformed"), "malformed row: field count differs from header")]
    marked = df.withColumn(REJECT, first_failure([*malformed, *checks]))
    good = marked.where(F.col(REJECT).isNull()).drop(REJECT)
    bad = marked.where(F.col(REJECT).isNotNull()).select(
        "source_table", "source_file", "source_line", F.col(f"{REJECT}.field").alias("field"),
        F.col(f"{REJECT}.reason").alias("reason"),
    )
    return good, bad
