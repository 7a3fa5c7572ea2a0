"""How the warehouse's Delta tables are laid out for the nightly's writes, on real OMOP rows (the
shared 27-patient ETL's ``omop.measurement``, delivered in four "nights" by id range, as the ETL
assigns ids in increasing order).

- A MERGE bounded by a key column (``merge_into(..., bound_by=...)``) only opens the target files
  whose statistics overlap the source's range of it, and ends with the rows an unbounded MERGE
  gives.
- A MERGE that leaves a table with many small files compacts it, without changing its rows or
  what the change feed reports; a table of large files is left as it is. Updates of compacted
  rows are marked with deletion vectors instead of rewriting the compacted file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pyspark.sql import Window
from pyspark.sql import functions as F

from mlhops.io import Catalog, merge_into, read_table
from mlhops.io import delta
from mlhops.io.delta import delta_table

TABLE = "omop.measurement"
KEY = "measurement_id"
NIGHTS = 4


@pytest.fixture(scope="module")
def nights(spark, synthea27):
    """The measurement rows, numbered 1..NIGHTS by id range (a night's new ids above the last's)."""
    rows = read_table(spark, Catalog(synthea27.settings.warehouse), TABLE)
    return rows.withColumn("night", F.ntile(NIGHTS).over(Window.orderBy(KEY))).localCheckpoint(eager=True)


def _night(nights, n: int):
    return nights.where(F.col("night") == n).drop("night").repartition(1)


def _load_nights(catalog: Catalog, nights, bound: bool, upto: int = NIGHTS) -> None:
    for n in range(1, upto + 1):
        merge_into(_night(nights, n), catalog, TABLE, [KEY], bound_by=KEY if bound else None)


def _data_files(catalog: Catalog) -> set[str]:
    return {str(p) for p in Path(catalog.path(TABLE)).glob("*.parquet")}


def _live_files(spark, catalog: Catalog) -> list[str]:
    return read_table(spark, catalog, TABLE).inputFiles()


def test_a_merge_bounded_by_its_key_range_never_opens_the_files_outside_it(spark, nights, tmp_path):
    catalog = Catalog(str(tmp_path))
    _load_nights(catalog, nights, bound=True, upto=NIGHTS - 1)
    # Each night landed in its own file; remove the first night's from disk (the log still lists
    # it): a MERGE that opened it would fail.
    first_night_file = min(_live_files(spark, catalog), key=lambda f: os.path.getmtime(f.removeprefix("file:")))
    os.remove(first_night_file.removeprefix("file:"))
    last = _night(nights, NIGHTS)
    merge_into(last, catalog, TABLE, [KEY], bound_by=KEY)
    # A correction of the last night's rows (an update) is bounded the same way.
    corrected = last.withColumn("value_as_number", F.col("value_as_number") + F.lit(1.0))
    merge_into(corrected, catalog, TABLE, [KEY], bound_by=KEY)
    stored = read_table(spark, catalog, TABLE).where(F.col(KEY) >= last.agg(F.min(KEY)).first()[0])
    assert stored.count() == last.count() and stored.exceptAll(corrected).isEmpty()
    with pytest.raises(Exception, match="(?i)file.*(not exist|not found)|FileNotFound"):
        merge_into(corrected.withColumn("value_as_number", F.lit(0.0)), catalog, TABLE, [KEY])


def test_bounded_and_unbounded_merges_leave_the_same_rows(spark, nights, tmp_path):
    bounded, unbounded = Catalog(str(tmp_path / "b")), Catalog(str(tmp_path / "u"))
    for catalog, bound in ((bounded, True), (unbounded, False)):
        _load_nights(catalog, nights, bound=bound)
        # Night 2 re-delivered with a corrected unit and night 4's rows again (no change).
        again = _night(nights, 2).withColumn("unit_source_value", F.lit("corrected-unit")).unionByName(_night(nights, 4))
        merge_into(again, catalog, TABLE, [KEY], bound_by=KEY if bound else None)
    a, b = read_table(spark, bounded, TABLE), read_table(spark, unbounded, TABLE)
    assert a.count() == b.count() == nights.count()
    assert a.exceptAll(b).isEmpty() and b.exceptAll(a).isEmpty()
    assert a.where(F.col("unit_source_value") == "corrected-unit").count() == _night(nights, 2).count()


def test_an_empty_source_commits_nothing_and_the_bound_must_be_a_key(spark, nights, tmp_path):
    catalog = Catalog(str(tmp_path))
    _load_nights(catalog, nights, bound=True, upto=1)
    version = delta_table(spark, catalog, TABLE).history(1).first()["version"]
    merge_into(_night(nights, 1).limit(0), catalog, TABLE, [KEY], bound_by=KEY)
    assert delta_table(spark, catalog, TABLE).history(1).first()["version"] == version
    with pytest.raises(ValueError, match="person_id.*not one of the keys"):
        merge_into(_night(nights, 2), catalog, TABLE, [KEY], bound_by="person_id")


def test_a_write_that_leaves_many_small_files_compacts_the_table(spark, nights, tmp_path, monkeypatch):
    monkeypatch.setattr(delta, "COMPACT_AFTER_FILES", 4)  # the nightly threshold (64) in four nights
    catalog = Catalog(str(tmp_path))
    _load_nights(catalog, nights, bound=True, upto=1)
    first_version = delta_table(spark, catalog, TABLE).history(1).first()["version"]
    for n in range(2, NIGHTS + 1):
        merge_into(_night(nights, n).repartition(2), catalog, TABLE, [KEY], bound_by=KEY)
    operations = [r["operation"] for r in delta_table(spark, catalog, TABLE).history().collect()]
    assert "OPTIMIZE" in operations
    assert len(_live_files(spark, catalog)) < len(_data_files(catalog))  # the small ones replaced
    stored = read_table(spark, catalog, TABLE)
    assert stored.count() == nights.count() and stored.exceptAll(nights.drop("night")).isEmpty()
    # A correction of rows now in the compacted file marks them with a deletion vector instead of
    # rewriting the file (the table was created for updates).
    fixes = _night(nights, NIGHTS - 1).limit(5).withColumn("value_as_number", F.lit(-1.0))
    merge_into(fixes, catalog, TABLE, [KEY], bound_by=KEY)
    metrics = (delta_table(spark, catalog, TABLE).history().where("operation = 'MERGE'")
               .orderBy(F.desc("version")).first()["operationMetrics"])
    assert metrics["numTargetRowsUpdated"] == "5" and metrics["numTargetFilesRemoved"] == "0"
    assert int(metrics["numTargetDeletionVectorsAdded"]) >= 1
    assert read_table(spark, catalog, TABLE).where(F.col("value_as_number") == -1.0).count() == 5
    # The change feed (what incremental stages read) reports each row inserted once: the
    # compaction's rewrite is not a change.
    changes = (spark.read.format("delta").option("readChangeFeed", "true")
               .option("startingVersion", first_version + 1).load(catalog.path(TABLE)))
    inserted = changes.where("_change_type = 'insert'")
    assert inserted.count() == nights.count() - _night(nights, 1).count()
    assert changes.where("_change_type = 'update_postimage'").count() == 5
    assert changes.where("_change_type NOT IN ('insert', 'update_preimage', 'update_postimage')").isEmpty()


def test_a_table_of_large_files_is_not_rewritten(spark, nights, tmp_path, monkeypatch):
    monkeypatch.setattr(delta, "COMPACT_AFTER_FILES", 4)
    monkeypatch.setattr(delta, "SMALL_FILE_BYTES", 1024)  # every file of the test counts as large
    catalog = Catalog(str(tmp_path))
    for n in range(1, NIGHTS + 1):
        merge_into(_night(nights, n).repartition(2), catalog, TABLE, [KEY], bound_by=KEY)
    assert not delta.compact_if_fragmented(spark, catalog, TABLE)
    operations = [r["operation"] for r in delta_table(spark, catalog, TABLE).history().collect()]
    assert "OPTIMIZE" not in operations and len(_live_files(spark, catalog)) >= 4
