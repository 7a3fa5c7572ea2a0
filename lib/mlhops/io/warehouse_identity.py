"""Facts a warehouse must keep for its whole life, recorded on first use and checked on every run.

Today: the fingerprint of the de-identification salt. Every id, pseudonym and date shift is a
keyed hash of that salt, so a run with another salt would give every patient a second identity
(new OMOP ids beside the old ones: duplicated people) without any error. The first run that
hashes records the fingerprint (a keyed hash of a constant: it reveals nothing of the salt);
every later run refuses a different one, naming what to do. The hash scheme is recorded beside
it; a warehouse of an earlier scheme (v1, plain SHA-256 over ``salt|kind|key``, which recorded
a fingerprint and no scheme) is refused too: its ids and pseudonyms cannot be recomputed by this
version, so it must be rebuilt.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mlhops.errors import ConfigError
from mlhops.io.catalog import Catalog
from mlhops.io.delta import merge_into, read_table, table_exists
from mlhops.io.tables.operations import WAREHOUSE_IDENTITY, WAREHOUSE_IDENTITY_KEYS, WAREHOUSE_IDENTITY_SCHEMA

SALT_FINGERPRINT = "salt_fingerprint"
HASH_SCHEME = "hash_scheme"
# The scheme of this version's identifier hash (equals mlhops.hashing.HASH_SCHEME; io depends on
# foundations only, so the value is repeated and a test keeps the two equal).
CURRENT_SCHEME = "hmac-sha256-v2"
# What a warehouse that recorded a fingerprint but no scheme was built with.
EARLIER_SCHEME = "sha256-v1"


def recorded(spark: SparkSession, catalog: Catalog, name: str) -> str | None:
    """The value recorded under ``name`` (None before the first record)."""
    if not table_exists(spark, catalog, WAREHOUSE_IDENTITY):
        return None
    row = read_table(spark, catalog, WAREHOUSE_IDENTITY).where(F.col("name") == name).first()
    return None if row is None else str(row["value"])


def check_salt_fingerprint(spark: SparkSession, catalog: Catalog, fingerprint: str,
                           scheme: str = CURRENT_SCHEME) -> None:
    """Record the salt's fingerprint and the hash scheme on first use; refuse a run whose salt or
    scheme differs.

    Raises:
        ConfigError: the warehouse was built with another salt or an earlier hash scheme.
    """
    known = recorded(spark, catalog, SALT_FINGERPRINT)
    if known is not None:
        known_scheme = recorded(spark, catalog, HASH_SCHEME) or EARLIER_SCHEME
        if known_scheme != scheme:
            raise ConfigError(
                f"warehouse {catalog.warehouse}: built with the earlier hash scheme {known_scheme} (this version hashes "
                f"identifiers with {scheme}); its ids and pseudonyms cannot be matched. Rebuild it: re-run the ETL of "
                "every source into a new warehouse (--warehouse DIR), then the later stages."
            )
        if known != fingerprint:
            raise ConfigError(
                f"warehouse {catalog.warehouse}: built with a different de-identification salt (fingerprint {known}, "
                f"this run's {fingerprint}); with this salt every patient would get new ids beside the old ones. "
                "Run with the warehouse's salt (its secret scope or environment variable), or use a new warehouse."
            )
        return
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows = [(SALT_FINGERPRINT, fingerprint, now), (HASH_SCHEME, scheme, now)]
    merge_into(spark.createDataFrame(rows, WAREHOUSE_IDENTITY_SCHEMA), catalog, WAREHOUSE_IDENTITY,
               list(WAREHOUSE_IDENTITY_KEYS), update=False)
