"""Source-neutral row checks of a batch: duplicates, unknown references, impossible dates."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from mlhops.etl.events import LINEAGE_COLUMNS

DUPLICATE = "duplicate natural key (an earlier row has the same key)"


def dedupe(df: DataFrame, keys: list[str]) -> tuple[DataFrame, DataFrame]:
    """Keep the first row (file, line order) per key; the others become filtered rows."""
    w = Window.partitionBy(*keys).orderBy("source_file", "source_line")
    ranked = df.withColumn("_dup_rank", F.row_number().over(w))
    first = ranked.where(F.col("_dup_rank") == 1).drop("_dup_rank")
    dups = ranked.where(F.col("_dup_rank") > 1).select(*LINEAGE_COLUMNS, F.lit(DUPLICATE).alias("reason"))
    return first, dups


def reject_where(df: DataFrame, condition: Column, field: str, reason: str) -> tuple[DataFrame, DataFrame]:
    """Split ``df`` on ``condition`` (true = reject) into (kept, reject rows)."""
    flagged = df.withColumn("_bad", F.coalesce(condition, F.lit(False)))
    kept = flagged.where(~F.col("_bad")).drop("_bad")
    bad = flagged.where(F.col("_bad")).select(*LINEAGE_COLUMNS, F.lit(field).alias("field"), F.lit(reason).alias("reason"))
    return kept, bad


def reject_unknown(df: DataFrame, key: str, known: DataFrame, known_key: str, reason: str) -> tuple[DataFrame, DataFrame]:
    """Reject rows whose non-null ``key`` is not among ``known[known_key]``."""
    ref = known.select(F.col(known_key).alias("_ref")).distinct().withColumn("_known", F.lit(True))
    joined = df.join(ref, df[key] == ref["_ref"], "left").drop("_ref")
    kept, bad = reject_where(joined, F.col(key).isNotNull() & F.col("_known").isNull(), key, reason)
    return kept.drop("_known"), bad
