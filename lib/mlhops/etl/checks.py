"""Source-neutral row checks of a batch: duplicates, unknown references, impossible dates.

Checks flag rows instead of splitting frames: each sets ``_outcome`` (kind, field, reason) on
rows that no earlier check flagged, so a row's outcome is its first failing check in order.
The caller materialises the flagged frame once and :func:`split` derives the kept rows, the
rejects and the filtered rows from it; the checks (windows, joins) then run once per batch
instead of once per derived frame.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from mlhops.etl.events import LINEAGE_COLUMNS

DUPLICATE = "duplicate natural key (an earlier row has the same key)"
OUTCOME = "_outcome"
REJECT = "reject"      # quarantined
FILTERED = "filtered"  # deliberately not loaded, counted by reason


def _outcome(kind: str, field: str | None, reason: str) -> Column:
    return F.struct(F.lit(kind).alias("kind"), F.lit(field).cast("string").alias("field"), F.lit(reason).alias("reason"))


def _flag(df: DataFrame, condition: Column, outcome: Column) -> DataFrame:
    current = F.col(OUTCOME) if OUTCOME in df.columns else F.lit(None).cast(
        "struct<kind:string,field:string,reason:string>")
    return df.withColumn(OUTCOME, F.when(current.isNull() & F.coalesce(condition, F.lit(False)), outcome).otherwise(current))


def flag_duplicates(df: DataFrame, keys: list[str]) -> DataFrame:
    """Flag every row but the first (file, line order) per key as filtered (duplicate)."""
    w = Window.partitionBy(*keys).orderBy("source_file", "source_line")
    ranked = df.withColumn("_dup_rank", F.row_number().over(w))
    return _flag(ranked, F.col("_dup_rank") > 1, _outcome(FILTERED, None, DUPLICATE)).drop("_dup_rank")


def flag_where(df: DataFrame, condition: Column, field: str, reason: str) -> DataFrame:
    """Flag rows where ``condition`` is true as rejects (``field`` names the offending field)."""
    return _flag(df, condition, _outcome(REJECT, field, reason))


def flag_unknown(df: DataFrame, key: str, known: DataFrame, known_key: str, reason: str,
                 field: str | None = None) -> DataFrame:
    """Flag rows whose non-null ``key`` is not among ``known[known_key]`` as rejects
    (``field``, default ``key``, is the source field named in the reject)."""
    ref = known.select(F.col(known_key).alias("_ref")).distinct().withColumn("_known", F.lit(True))
    joined = df.join(ref, df[key] == ref["_ref"], "left").drop("_ref")
    return flag_where(joined, F.col(key).isNotNull() & F.col("_known").isNull(), field or key, reason).drop("_known")


def split(flagged: DataFrame) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(kept rows without ``_outcome``, reject rows, filtered rows) of a flagged frame."""
    o = F.col(OUTCOME)
    kept = flagged.where(o.isNull()).drop(OUTCOME)
    rejects = flagged.where(o["kind"] == REJECT).select(*LINEAGE_COLUMNS, o["field"].alias("field"), o["reason"].alias("reason"))
    filtered = flagged.where(o["kind"] == FILTERED).select(*LINEAGE_COLUMNS, o["reason"].alias("reason"))
    return kept, rejects, filtered
