"""Seeded, capped samples of feature rows drawn by Spark; only the samples reach the driver.

Rows are ranked by a salted hash of their key columns (``xxhash64(keys, seed)``), so the same
seed picks the same rows whatever the partitioning, and a re-run of a window samples exactly
what it sampled before. ``uniform`` keeps the ``cap`` lowest-ranked rows of each slice value;
``stratified`` splits the cap over the strata of each slice value in proportion to their sizes
(each non-empty stratum keeps at least one row), so a rare stratum is neither lost nor inflated.

``split_by_key`` divides the baseline rows into a part the preprocessing and VAE are fitted on
and a disjoint part the detectors' reference is sampled from, by another salted hash of the
keys: a row is in the same part for every slice, so no slice's reference holds a fitted row.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from mlhops.errors import SchemaError

if TYPE_CHECKING:
    import pandas as pd

    from mlhops.config.stages import SliceSettings

logger = logging.getLogger(__name__)

SamplingMethod = Literal["uniform", "stratified"]
DEFAULT_KEYS: tuple[str, ...] = ("visit_occurrence_id", "person_id")
_RANK = "_mlhops_rank"
_SPLIT_BUCKETS = 1_000_000


def in_window(df: DataFrame, start: dt.date | dt.datetime, end: dt.date | dt.datetime, time_column: str = "event_time") -> DataFrame:
    """Rows with ``start <= time_column < end`` (UTC)."""
    if time_column not in df.columns:
        raise SchemaError(f"feature table: missing time column {time_column!r}")
    col = F.col(time_column)
    return df.where((col >= F.lit(start).cast("timestamp")) & (col < F.lit(end).cast("timestamp")))


def split_by_key(
    df: DataFrame, share: float, seed: int, key_columns: Sequence[str] = DEFAULT_KEYS
) -> tuple[DataFrame, DataFrame]:
    """Disjoint ``(fit, reference)`` parts of ``df``, about ``share`` of the rows in the first.

    A row goes to the fit part when ``xxhash64(keys, seed, "fit-part")`` modulo 10^6 falls below
    ``share`` x 10^6: reproducible, independent of partitioning, and independent of the sampling
    rank (another salt), so sampling each part afterwards is still uniform within it.

    Raises:
        SchemaError: a key column is missing or ``share`` is outside (0, 1).
    """
    if not 0.0 < share < 1.0:
        raise SchemaError(f"drift fit share must lie in (0, 1), got {share}")
    missing = [c for c in key_columns if c not in df.columns]
    if missing:
        raise SchemaError(f"drift sampling: missing columns {sorted(missing)}")
    bucket = F.pmod(F.xxhash64(*[F.col(c) for c in key_columns], F.lit(seed), F.lit("fit-part")), F.lit(_SPLIT_BUCKETS))
    in_fit = bucket < F.lit(round(share * _SPLIT_BUCKETS))
    return df.where(in_fit), df.where(~in_fit)


def sample_rows(
    df: DataFrame,
    *,
    cap: int,
    seed: int,
    method: SamplingMethod = "uniform",
    strata: Sequence[str] = (),
    slices: Sequence[SliceSettings] = (),
    key_columns: Sequence[str] = DEFAULT_KEYS,
    columns: Sequence[str] | None = None,
    one_per: str | None = None,
    by: Sequence[str] = (),
) -> DataFrame:
    """A capped sample per slice value, still as a Spark DataFrame.

    Args:
        df: feature rows (already restricted to one window or the reference period).
        cap: maximum rows per slice value.
        seed: salt of the ranking hash.
        method: ``uniform`` or ``stratified`` (needs ``strata``).
        strata: columns whose value combinations are the strata.
        slices: population slices (``all`` is always included), as in ``stats.slices``.
        key_columns: columns that identify a row (hashed for the ranking).
        columns: feature columns to keep (default: all).
        one_per: keep at most one row (the lowest-ranked) per value of this column and slice value
            before capping, e.g. ``person_id``: a patient's visits are not independent draws, and
            the detectors' permutation tests assume rows that are (clustered rows inflate false
            alarms; docs/drift-power.md, generated populations).
        by: columns that split the rows further, each value sampled on its own as if it were
            the whole input (e.g. the window: many windows sampled in one Spark job); kept in
            the result.

    Returns:
        Sampled rows with ``slice`` and ``slice_value`` columns and the ranking hash added.

    Raises:
        SchemaError: a key or stratum column is missing, or ``stratified`` without strata.
    """
    from mlhops.stats.states import with_slices

    if cap <= 0:
        raise SchemaError(f"drift sampling cap must be positive, got {cap}")
    missing = [c for c in [*key_columns, *strata, *by, *([one_per] if one_per else [])] if c not in df.columns]
    if missing:
        raise SchemaError(f"drift sampling: missing columns {sorted(missing)}")
    if method == "stratified" and not strata:
        raise SchemaError("drift sampling: method 'stratified' needs at least one stratum column")
    keep = list(columns) if columns is not None else list(df.columns)
    ranked = with_slices(df, list(slices)).withColumn(
        _RANK, F.xxhash64(*[F.col(c) for c in key_columns], F.lit(seed))
    )
    by_slice = [*by, "slice", "slice_value"]
    order = [F.col(_RANK), *[F.col(c) for c in key_columns]]
    if one_per:
        w_one = Window.partitionBy(*by_slice, one_per).orderBy(*order)
        ranked = ranked.withColumn("_one", F.row_number().over(w_one)).where(F.col("_one") == 1).drop("_one")
    if method == "uniform":
        w = Window.partitionBy(*by_slice).orderBy(*order)
        picked = ranked.withColumn("_rn", F.row_number().over(w)).where(F.col("_rn") <= cap)
    else:
        stratum = [*by_slice, *strata]
        w_rank = Window.partitionBy(*stratum).orderBy(*order)
        w_stratum = Window.partitionBy(*stratum)
        w_slice = Window.partitionBy(*by_slice)
        quota = F.greatest(F.lit(1), F.round(F.lit(float(cap)) * F.col("_n_stratum") / F.col("_n_slice")))
        picked = (
            ranked.withColumn("_n_stratum", F.count(F.lit(1)).over(w_stratum))
            .withColumn("_n_slice", F.count(F.lit(1)).over(w_slice))
            .withColumn("_rn", F.row_number().over(w_rank))
            .where(F.col("_rn") <= quota)
        )
        # Rounding up small strata can overshoot the cap by a few rows: trim by rank.
        w_cut = Window.partitionBy(*by_slice).orderBy(*order)
        picked = picked.withColumn("_rn", F.row_number().over(w_cut)).where(F.col("_rn") <= cap)
    extra = [c for c in keep if c not in by_slice]
    return picked.select(*by_slice, *extra, _RANK)


def collect_sample(sample: DataFrame) -> pd.DataFrame:
    """Bring a capped sample to the driver as pandas, ordered by slice and rank (reproducible)."""
    pdf = sample.orderBy("slice", "slice_value", _RANK).toPandas().drop(columns=[_RANK])
    logger.info("collected drift sample of %d rows", len(pdf))
    return pdf
