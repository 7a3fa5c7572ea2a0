"""The keyed identifier hash is HMAC-SHA-256 (salt as the key, ``kind|key`` as the message),
computed in a pandas UDF: the salt appears in no query plan, neither of a hashed frame nor of the
frame the ETL writes to ``mlhops.id_map``; a warehouse built with the earlier scheme is refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pytest
from pyspark.sql import functions as F

from mlhops.errors import ConfigError
from mlhops.etl.deid import Deidentifier
from mlhops.etl.steps import ids as steps_ids
from mlhops.etl.steps.ids import BatchIds
from mlhops.hashing import HASH_SCHEME, SOURCE_VALUE_HEX, KeyedHasher
from mlhops.io import Catalog, merge_into, read_table
from mlhops.io.tables.etl import ID_MAP
from mlhops.io.tables.operations import WAREHOUSE_IDENTITY, WAREHOUSE_IDENTITY_KEYS, WAREHOUSE_IDENTITY_SCHEMA
from mlhops.io import warehouse_identity
from mlhops.io.warehouse_identity import CURRENT_SCHEME, SALT_FINGERPRINT, check_salt_fingerprint, recorded

SALT = "s3cr3t-salt-never-in-a-plan"


def _plans(df) -> str:
    qe = df._jdf.queryExecution()
    return "\n".join([qe.toString(), qe.optimizedPlan().toString(), qe.executedPlan().toString()])


def test_hash_is_hmac_sha256_of_kind_and_key_and_null_stays_null(spark):
    hasher = KeyedHasher(SALT)
    df = spark.createDataFrame([("p1",), ("Ünïcode id",), (None,)], "key string")
    got = {r["key"]: (r["h"], r["s"]) for r in df.select(
        "key", hasher.hash("person", F.col("key")).alias("h"), hasher.pseudonym("person", F.col("key")).alias("s"),
    ).collect()}
    for key in ("p1", "Ünïcode id"):
        expected = hmac.new(SALT.encode(), f"person|{key}".encode(), hashlib.sha256).hexdigest()
        assert got[key] == (expected, expected[:SOURCE_VALUE_HEX]) == (hasher.hash_value("person", key),
                                                                    expected[:SOURCE_VALUE_HEX])
    assert got[None] == (None, None)
    # Kinds are separate spaces.
    other = df.select(hasher.hash("visit", F.col("key")).alias("h")).where(F.col("key") == "p1").first()
    assert other is not None and other["h"] != got["p1"][0]


def test_the_salt_appears_in_no_query_plan_of_a_hashed_frame_or_the_id_map_write(spark, tmp_path):
    hasher = KeyedHasher(SALT)
    df = spark.createDataFrame([("p1",), ("p2",)], "person_key string")
    hashed = df.withColumn("h", hasher.hash("person", F.col("person_key")))
    assert hashed.count() == 2 and SALT not in _plans(hashed)
    ids = BatchIds(spark, Catalog(str(tmp_path)), Deidentifier(hasher, 30), "run-1")
    ids.request("person", df, "person_key")
    ids.resolve()
    assert ids.ids is not None and SALT not in _plans(ids.ids)
    attached = ids.attach(df, "person", "person_key", "person_id")
    assert SALT not in _plans(attached) and attached.where(F.col("person_id").isNull()).count() == 0
    stored = {r["key_hash"] for r in read_table(spark, Catalog(str(tmp_path)), ID_MAP).collect()}
    assert stored == {hasher.hash_value("person", k) for k in ("p1", "p2")}
    assert SALT not in repr(hasher) and SALT not in hasher.fingerprint() and len(hasher.fingerprint()) == 16


@pytest.mark.parametrize("broadcast_ids", [0, 1000], ids=["shuffled", "broadcast"])
def test_ids_are_attached_by_source_key_as_id_map_holds_them_under_the_keys_hash(spark, tmp_path, monkeypatch,
                                                                                broadcast_ids):
    monkeypatch.setattr(steps_ids, "BROADCAST_IDS", broadcast_ids)
    hasher = KeyedHasher(SALT)
    catalog = Catalog(str(tmp_path))
    visits = spark.createDataFrame([("v1", "p1"), ("v2", "p1"), ("v3", "p2"), ("v4", None)], "visit_key string, person_key string")
    persons = spark.createDataFrame([("p1",), ("p2",), ("p3",)], "person_key string")
    ids = BatchIds(spark, catalog, Deidentifier(hasher, 30), "run-1")
    ids.request("person", persons, "person_key")
    ids.request("person", visits, "person_key")  # a kind requested from two frames: one id per key
    ids.request("visit", visits, "visit_key")
    ids.resolve()
    stored = {(r["kind"], r["key_hash"]): r["id"] for r in read_table(spark, catalog, ID_MAP).collect()}
    assert len(stored) == 3 + 4  # null keys get no id
    got = ids.attach(ids.attach(visits, "visit", "visit_key", "visit_id"), "person", "person_key", "person_id")
    for r in got.collect():
        assert r["visit_id"] == stored[("visit", hasher.hash_value("visit", r["visit_key"]))]
        want = stored[("person", hasher.hash_value("person", r["person_key"]))] if r["person_key"] else None
        assert r["person_id"] == want
    assert got.count() == visits.count()
    assert sorted(stored[("person", hasher.hash_value("person", k))] for k in ("p1", "p2", "p3")) == [1, 2, 3]


def test_a_warehouse_of_the_earlier_hash_scheme_is_refused_with_what_to_do(spark, tmp_path):
    catalog = Catalog(str(tmp_path))
    # What the earlier (SHA-256 over salt|kind|key) scheme recorded: a fingerprint, no scheme.
    now = dt.datetime(2026, 1, 1)
    merge_into(spark.createDataFrame([(SALT_FINGERPRINT, "0123456789abcdef", now)], WAREHOUSE_IDENTITY_SCHEMA),
               catalog, WAREHOUSE_IDENTITY, list(WAREHOUSE_IDENTITY_KEYS), update=False)
    with pytest.raises(ConfigError, match="earlier hash scheme") as err:
        check_salt_fingerprint(spark, catalog, KeyedHasher(SALT).fingerprint())
    assert "Rebuild" in str(err.value) and "new warehouse" in str(err.value)
    assert recorded(spark, catalog, SALT_FINGERPRINT) == "0123456789abcdef"


def test_another_salt_of_the_same_scheme_is_still_refused_as_another_salt(spark, tmp_path):
    catalog = Catalog(str(tmp_path))
    check_salt_fingerprint(spark, catalog, KeyedHasher(SALT).fingerprint())
    assert recorded(spark, catalog, warehouse_identity.HASH_SCHEME) == CURRENT_SCHEME == HASH_SCHEME
    check_salt_fingerprint(spark, catalog, KeyedHasher(SALT).fingerprint())  # same salt: fine
    with pytest.raises(ConfigError, match="different de-identification salt"):
        check_salt_fingerprint(spark, catalog, KeyedHasher("another").fingerprint())
