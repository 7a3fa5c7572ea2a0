"""The one keyed hash for identifiers, used by the ETL (id map, pseudonyms, date shifts) and by
scoring and evaluation (inference-log keys) alike.

The hash is SHA-256 over ``salt | kind | key``: the same key gets a different hash in each kind
(a person key and an encounter key never collide) and nobody without the salt can recompute it
from a known identifier. The salt is resolved once per entry point
(:func:`mlhops.config.secrets.resolve_salt`) and held only here.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

# Hex characters kept of a hash in *_source_value columns (128 bits; fits varchar(50)).
SOURCE_VALUE_HEX = 32


class KeyedHasher:
    """Salted hashes of identifier columns. Build it once per run with the resolved salt."""

    def __init__(self, salt: str) -> None:
        if not salt:
            raise ValueError("a keyed hasher needs a non-empty salt")
        self._salt = salt

    def __repr__(self) -> str:  # never show the salt
        return "KeyedHasher(<salt>)"

    def hash(self, kind: str, key: Column) -> Column:
        """Hex SHA-256 of ``salt|kind|key`` (null key -> null)."""
        return F.when(key.isNull(), F.lit(None).cast("string")).otherwise(
            F.sha2(F.concat_ws("|", F.lit(self._salt), F.lit(kind), key.cast("string")), 256)
        )

    def pseudonym(self, kind: str, key: Column) -> Column:
        """Short hash for ``*_source_value`` lineage columns."""
        return F.substring(self.hash(kind, key), 1, SOURCE_VALUE_HEX)
