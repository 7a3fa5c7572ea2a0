"""Id assignment: dense per kind, stable across runs, continuing after the largest stored id."""

from __future__ import annotations

from pyspark.sql import functions as F

from mlhops.etl.ids import assign_ids
from mlhops.io import Catalog, read_table
from mlhops.io.tables.etl import ID_MAP


def _keys(spark, pairs):
    return spark.createDataFrame(pairs, "kind string, key_hash string")


def _ids(frame) -> dict[tuple[str, str], int]:
    return {(r["kind"], r["key_hash"]): r["id"] for r in frame.collect()}


def test_each_kind_gets_dense_ids_from_one_even_when_one_kind_name_prefixes_another(spark, tmp_path):
    catalog = Catalog(str(tmp_path))
    # "visit" is a prefix of "visit_detail": their sort blocks must still be told apart.
    pairs = [("visit", f"v{i:03d}") for i in range(40)] + [("visit_detail", f"d{i:03d}") for i in range(25)] + [
        ("person", f"p{i:03d}") for i in range(7)
    ]
    ids = _ids(assign_ids(spark, catalog, _keys(spark, pairs + pairs[:5]), "run-1"))

    assert len(ids) == len(pairs)
    for kind, n in (("visit", 40), ("visit_detail", 25), ("person", 7)):
        assert sorted(v for (k, _), v in ids.items() if k == kind) == list(range(1, n + 1))
    stored = read_table(spark, catalog, ID_MAP)
    assert stored.count() == len(pairs)
    assert stored.where(F.col("run_id") != "run-1").count() == 0


def test_known_keys_keep_their_ids_and_new_keys_continue_after_the_largest(spark, tmp_path):
    catalog = Catalog(str(tmp_path))
    first = [("event", f"e{i:03d}") for i in range(30)] + [("event_x", "x1")]
    before = _ids(assign_ids(spark, catalog, _keys(spark, first), "run-1"))

    second = first[10:] + [("event", f"n{i:03d}") for i in range(12)] + [("event_x", "x2")]
    after = _ids(assign_ids(spark, catalog, _keys(spark, second), "run-2"))

    assert all(after[k] == before[k] for k in map(tuple, first[10:]))
    assert sorted(v for (k, h), v in after.items() if k == "event" and h.startswith("n")) == list(range(31, 43))
    assert after[("event_x", "x2")] == 2
    stored = read_table(spark, catalog, ID_MAP)
    assert stored.count() == len(first) + 13
    assert stored.groupBy("kind", "id").count().where("count > 1").count() == 0


def test_two_writers_assigning_at_once_never_share_an_id_and_get_back_what_was_stored(spark, tmp_path):
    """No lease here: the assignment on its own detects a concurrent id_map commit and retries."""
    import threading

    catalog = Catalog(str(tmp_path))
    assign_ids(spark, catalog, _keys(spark, [("person", "seed")]), "seed")
    for round_ in range(2):
        barrier = threading.Barrier(2)
        got: dict[str, dict[tuple[str, str], int]] = {}

        def writer(name: str, round_: int = round_, barrier: threading.Barrier = barrier) -> None:
            pairs = [("person", f"{name}-{round_}-{i:03d}") for i in range(60)] + [("person", f"shared-{round_}")]
            frame = _keys(spark, pairs)
            barrier.wait()
            got[name] = _ids(assign_ids(spark, catalog, frame, f"run-{name}"))

        threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(got) == {"a", "b"}
        stored = _ids(read_table(spark, catalog, ID_MAP))
        for name in ("a", "b"):
            assert all(stored[k] == v for k, v in got[name].items())  # returned ids are the committed ones
        assert got["a"][("person", f"shared-{round_}")] == got["b"][("person", f"shared-{round_}")]
    table = read_table(spark, catalog, ID_MAP)
    assert table.count() == 1 + 2 * (2 * 60 + 1)
    assert table.groupBy("kind", "id").count().where("count > 1").count() == 0
