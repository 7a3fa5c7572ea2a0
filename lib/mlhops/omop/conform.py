"""Shape a frame to exactly one OMOP CDM v5.4 table: columns, order, types, NOT NULL.

Columns missing from the input become typed nulls; extra columns are dropped (lineage columns
are kept aside for the quarantine). Rows with a null in a required column are not written:
they come back as rejects naming the first such field, so they reach the quarantine instead of
vanishing.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mlhops.omop.schema import fields

LINEAGE = ["source_table", "source_file", "source_line"]


@dataclass(frozen=True)
class Conformed:
    """``table``: rows with the exact spec schema; ``rejects``: lineage + field + reason."""

    table: DataFrame
    rejects: DataFrame
    kept_lineage: DataFrame  # lineage of the rows in ``table`` (for conservation)


def cast_to_spec(df: DataFrame, table: str) -> DataFrame:
    """Select and cast ``df`` to the spec columns of ``table`` (no null filtering)."""
    present = set(df.columns)
    cols = []
    for f in fields(table):
        src = F.col(f.name) if f.name in present else F.lit(None)
        cols.append(src.cast(f.spark_type).alias(f.name))
    return df.select(*cols)


def conform(df: DataFrame, table: str) -> Conformed:
    """Conform ``df`` (which may carry lineage columns) to ``table``.

    Returns:
        the conformed rows with the spec schema (required columns non-nullable), the rejects
        (``source_table, source_file, source_line, field, reason``) and the kept rows' lineage.
    """
    specs = fields(table)
    present = set(df.columns)
    lineage = [c for c in LINEAGE if c in present]
    typed = df.select(
        *[(F.col(f.name) if f.name in present else F.lit(None)).cast(f.spark_type).alias(f.name) for f in specs],
        *lineage,
    )
    failure = F.coalesce(
        *[F.when(F.col(f.name).isNull(), F.lit(f.name)) for f in specs if f.required], F.lit(None).cast("string")
    )
    marked = typed.withColumn("_null_field", failure)
    good = marked.where(F.col("_null_field").isNull())
    spark = df.sparkSession
    table_df = good.select(*[_non_null(f.name, f.spark_type) if f.required else F.col(f.name) for f in specs])
    if len(lineage) == len(LINEAGE):
        rejects = marked.where(F.col("_null_field").isNotNull()).select(
            *LINEAGE,
            F.col("_null_field").alias("field"),
            F.lit(f"required {table} field is null").alias("reason"),
        )
        kept = good.select(*LINEAGE)
    else:
        rejects = spark.createDataFrame([], _REJECT_DDL)
        kept = spark.createDataFrame([], _LINEAGE_DDL)
    return Conformed(table=table_df, rejects=rejects, kept_lineage=kept)


_REJECT_DDL = "source_table string, source_file string, source_line long, field string, reason string"
_LINEAGE_DDL = "source_table string, source_file string, source_line long"
# Typed Python fillers (turned into literals per call, so importing needs no active Spark;
# typed date/datetime literals keep Spark's nullability inference at "never null").
_FILLER: dict[T.DataType, object] = {
    T.IntegerType(): 0,
    T.LongType(): 0,
    T.DoubleType(): 0.0,
    T.StringType(): "",
    T.DateType(): _dt.date(1970, 1, 1),
    T.TimestampType(): _dt.datetime(1970, 1, 1),
}


def _non_null(name: str, dtype: T.DataType) -> Column:
    """``name`` typed as non-nullable. Only used after nulls were filtered out, so the filler
    literal is never taken; it exists so Spark infers ``nullable=False`` without an RDD trip."""
    return F.coalesce(F.col(name), F.lit(_FILLER[dtype])).alias(name)
