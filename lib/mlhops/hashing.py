"""The one keyed hash for identifiers, used by the ETL (id map, pseudonyms, date shifts) and by
scoring and evaluation (inference-log keys) alike.

The hash is HMAC-SHA-256 keyed with the salt over ``kind | key``: the same key gets a different
hash in each kind (a person key and an encounter key never collide) and nobody without the salt
can recompute it from a known identifier. The salt is resolved once per entry point
(:func:`mlhops.config.secrets.resolve_salt`) and held only here: the hash runs in a vectorised
(pandas) UDF whose key lives in the UDF's closure, never as a Column literal, so it appears in no
query plan, Spark UI SQL tab, event log or ``explain()`` output.

A Python UDF may not sit in a join condition: compute the hash as a column first
(``df.withColumn("_h", hasher.hash(kind, key))``) and join on that column.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F

# Hex characters kept of a hash in *_source_value columns (128 bits; fits varchar(50)).
SOURCE_VALUE_HEX = 32
# The identifier hash scheme, recorded beside the salt fingerprint (mlhops.io.warehouse_identity),
# so a warehouse whose ids were made by another scheme (v1: plain SHA-256 over salt|kind|key) is
# refused instead of silently split.
HASH_SCHEME = "hmac-sha256-v2"
# Hex characters of the fingerprint's keyed hash.
_FINGERPRINT_HEX = 16


def _hmac_hex(key: bytes, prefix: bytes) -> Callable[[pd.Series], pd.Series]:
    """Series -> Series of hex HMAC-SHA-256(key, prefix + value); null stays null."""

    def one(value: object) -> str | None:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return None
        return hmac.new(key, prefix + str(value).encode("utf-8"), hashlib.sha256).hexdigest()

    def series(values: pd.Series) -> pd.Series:
        return values.map(one).astype(object)

    return series


class KeyedHasher:
    """Keyed hashes of identifier columns. Build it once per run with the resolved salt."""

    def __init__(self, salt: str) -> None:
        if not salt:
            raise ValueError("a keyed hasher needs a non-empty salt")
        self._key = salt.encode("utf-8")
        self._udfs: dict[str, Callable[..., Column]] = {}

    def __repr__(self) -> str:  # never show the salt
        return "KeyedHasher(<salt>)"

    def fingerprint(self) -> str:
        """A short keyed hash of a constant: tells salts apart, reveals nothing of the salt. The
        constant names the scheme (v2), so the same salt under the earlier scheme differs."""
        return hmac.new(self._key, b"mlhops salt fingerprint v2", hashlib.sha256).hexdigest()[:_FINGERPRINT_HEX]

    def hash_value(self, kind: str, value: str) -> str:
        """The hex hash of one value in Python: what :meth:`hash` gives for it in Spark."""
        return hmac.new(self._key, f"{kind}|{value}".encode("utf-8"), hashlib.sha256).hexdigest()

    def _udf(self, kind: str) -> Callable[..., Column]:
        udf = self._udfs.get(kind)
        if udf is None:
            udf = F.pandas_udf(_hmac_hex(self._key, f"{kind}|".encode("utf-8")), "string")  # type: ignore[call-overload]
            self._udfs[kind] = udf
        return udf

    def hash(self, kind: str, key: Column) -> Column:
        """Hex HMAC-SHA-256 of ``kind|key`` keyed with the salt (null key -> null).

        A Python UDF: compute it as a column before joining on it (not in a join condition).
        """
        return self._udf(kind)(key.cast("string"))

    def pseudonym(self, kind: str, key: Column) -> Column:
        """Short hash for ``*_source_value`` lineage columns."""
        return F.substring(self.hash(kind, key), 1, SOURCE_VALUE_HEX)
