"""De-identification: salted hashes of source identifiers and per-person date shifting.

The salt comes from :func:`mlhops.config.loader.resolve_salt` (env var or secret, never YAML).
Hashes are SHA-256 over ``salt | kind | key``, so the same source key gets a different hash in
each kind (a person key and an encounter key never collide) and nobody without the salt can
recompute them from a known identifier.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from mlhops.config.loader import resolve_salt
from mlhops.config.model import Settings

# Hex characters kept of a hash in *_source_value columns (128 bits; fits varchar(50)).
SOURCE_VALUE_HEX = 32
# Hex characters read from the hash to draw a date shift (32 bits).
_SHIFT_HEX = 8


def salted_hash(salt: str, kind: str, key: Column) -> Column:
    """Hex SHA-256 of ``salt|kind|key`` (null key -> null)."""
    return F.when(key.isNull(), F.lit(None).cast("string")).otherwise(
        F.sha2(F.concat_ws("|", F.lit(salt), F.lit(kind), key.cast("string")), 256)
    )


def pseudonym(salt: str, kind: str, key: Column) -> Column:
    """Short salted hash for ``*_source_value`` lineage columns."""
    return F.substring(salted_hash(salt, kind, key), 1, SOURCE_VALUE_HEX)


def date_shift_days(salt: str, person_key: Column, max_days: int) -> Column:
    """Per-person shift in ``[-max_days, +max_days]`` days, a pure function of the salted key
    (so every table and every re-run shifts one person's dates by the same amount)."""
    if max_days <= 0:
        return F.lit(0)
    h = F.conv(F.substring(salted_hash(salt, "date-shift", person_key), 1, _SHIFT_HEX), 16, 10).cast("long")
    return (F.pmod(h, F.lit(2 * max_days + 1)) - F.lit(max_days)).cast("int")


def shift_ts(ts: Column, days: Column) -> Column:
    """Shift a timestamp by whole days (null stays null)."""
    return ts + F.make_interval(F.lit(0), F.lit(0), F.lit(0), days)


class Deidentifier:
    """Binds the salt and the shift settings once per run."""

    def __init__(self, settings: Settings) -> None:
        self.salt = resolve_salt(settings)
        self.max_shift_days = settings.deid.date_shift_max_days

    def hash(self, kind: str, key: Column) -> Column:
        """Full salted hash (id-map key)."""
        return salted_hash(self.salt, kind, key)

    def pseudonym(self, kind: str, key: Column) -> Column:
        """Short salted hash (source-value lineage)."""
        return pseudonym(self.salt, kind, key)

    def shift_days(self, person_key: Column) -> Column:
        """The person's date shift in days (0 when disabled)."""
        return date_shift_days(self.salt, person_key, self.max_shift_days)
