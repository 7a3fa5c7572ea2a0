"""De-identification: keyed hashes of source identifiers and per-person date shifting.

The hashes are those of the run's :class:`~mlhops.hashing.KeyedHasher` (``ctx.hasher``:
HMAC-SHA-256 keyed with the salt over ``kind | key``); this module only binds it to the date-shift setting and draws
the shifts from it.
"""

from __future__ import annotations

import logging

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mlhops.hashing import KeyedHasher

logger = logging.getLogger(__name__)

# Hex characters read from the hash to draw a date shift (32 bits).
_SHIFT_HEX = 8
# Hash kind of the date-shift draw (never an id-map kind).
DATE_SHIFT_KIND = "date-shift"


def shift_ts(ts: Column, days: Column) -> Column:
    """Shift a timestamp by whole days (null stays null)."""
    return ts + F.make_interval(F.lit(0), F.lit(0), F.lit(0), days)


class Deidentifier:
    """The run's keyed hasher and date-shift setting (``deid.date_shift_max_days``)."""

    def __init__(self, hasher: KeyedHasher, date_shift_max_days: int) -> None:
        self.hasher = hasher
        self.max_shift_days = date_shift_max_days
        if date_shift_max_days <= 0:
            logger.warning("DATE SHIFTING IS OFF (deid.date_shift_max_days: 0): exact visit, birth and death dates "
                           "are written to the OMOP tables; acceptable for synthetic demo data only")

    def hash(self, kind: str, key: Column) -> Column:
        """Full keyed hash (id-map key)."""
        return self.hasher.hash(kind, key)

    def pseudonym(self, kind: str, key: Column) -> Column:
        """Short keyed hash (source-value lineage)."""
        return self.hasher.pseudonym(kind, key)

    def shift_days(self, person_key: Column) -> Column:
        """Per-person shift in ``[-max, +max]`` days (0 when disabled), a pure function of the
        keyed person key, so every table and every re-run shifts one person's dates alike."""
        if self.max_shift_days <= 0:
            return F.lit(0)
        h = F.conv(F.substring(self.hash(DATE_SHIFT_KIND, person_key), 1, _SHIFT_HEX), 16, 10).cast("long")
        return (F.pmod(h, F.lit(2 * self.max_shift_days + 1)) - F.lit(self.max_shift_days)).cast("int")

    def with_shift(self, df: DataFrame, person_key: str, out: str) -> DataFrame:
        """``df`` with column ``out``: :meth:`shift_days` of its ``person_key`` column, each distinct
        person hashed once and joined back (not every row through the Python hash)."""
        if self.max_shift_days <= 0:
            return df.withColumn(out, F.lit(0))
        shifts = (df.select(F.col(person_key).alias("_shift_key")).where(F.col("_shift_key").isNotNull()).distinct()
                  .withColumn(out, self.shift_days(F.col("_shift_key"))))
        return df.join(shifts, F.col(person_key) == F.col("_shift_key"), "left").drop("_shift_key")
