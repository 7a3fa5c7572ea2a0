"""The SQL form of the Delta table handle (what a Spark Connect session uses, where Delta's
``DeltaTable`` needs a server plugin) does what Delta's own handle does, on real OMOP rows.

Each test copies ``omop.person`` of the shared 27-patient ETL into two tables, applies the same
operation through ``DeltaTable`` to one and through ``SqlDeltaTable`` to the other, and compares.
"""

from __future__ import annotations

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from mlhops.io import Catalog, read_table
from mlhops.io.delta_sql import SqlDeltaTable


@pytest.fixture
def twins(spark, synthea27, tmp_path):
    person = read_table(spark, Catalog(synthea27.settings.warehouse), "omop.person")
    paths = []
    for name in ("by_delta", "by_sql"):
        path = str(tmp_path / name)
        person.write.format("delta").save(path)
        paths.append(path)
    return person, DeltaTable.forPath(spark, paths[0]), SqlDeltaTable(spark, f"delta.`{paths[1]}`"), paths


def _same(spark, a: str, b: str) -> bool:
    x, y = spark.read.format("delta").load(a), spark.read.format("delta").load(b)
    return x.count() == y.count() and x.exceptAll(y).isEmpty() and y.exceptAll(x).isEmpty()


def test_an_upsert_merge_gives_the_rows_delta_merge_gives(spark, twins):
    person, by_delta, by_sql, (a, b) = twins
    ids = [r.person_id for r in person.orderBy("person_id").limit(6).collect()]
    changed = person.where(F.col("person_id").isin(ids[:3])).withColumn("year_of_birth", F.col("year_of_birth") + 1)
    new = person.where(F.col("person_id").isin(ids[3:])).withColumn("person_id", F.col("person_id") + 1_000_000)
    source = changed.unionByName(new)
    for table in (by_delta, by_sql):
        (table.alias("t").merge(source.alias("s"), "t.person_id = s.person_id")
         .whenMatchedUpdateAll(condition="NOT (t.year_of_birth <=> s.year_of_birth)")
         .whenNotMatchedInsertAll().execute())
    assert _same(spark, a, b)
    assert spark.read.format("delta").load(b).count() == person.count() + 3


def test_a_delete_by_column_removes_the_same_rows_in_one_commit(spark, twins):
    person, by_delta, by_sql, (a, b) = twins
    ids = [r.person_id for r in person.orderBy("person_id").limit(4).collect()]
    condition = F.col("person_id").isin(ids)
    by_delta.delete(condition)
    by_sql.delete(condition)
    assert _same(spark, a, b)
    assert spark.read.format("delta").load(b).count() == person.count() - 4
    assert [r.operation for r in by_sql.history().collect()] == ["MERGE", "WRITE"]


def test_update_delete_history_and_detail_through_sql(spark, twins):
    person, by_delta, by_sql, (a, b) = twins
    one = person.agg(F.min("person_id")).first()[0]
    by_delta.update(f"person_id = {one}", {"gender_source_value": F.lit("x")})
    by_sql.update(f"person_id = {one}", {"gender_source_value": "'x'"})
    by_delta.delete("year_of_birth < 1950")
    by_sql.delete("year_of_birth < 1950")
    assert _same(spark, a, b)
    assert by_sql.history(1).first()["operation"] == "DELETE"
    assert by_sql.detail().first()["format"] == "delta"
    with pytest.raises(TypeError, match="SQL text"):
        by_sql.update("true", {"gender_source_value": F.lit("x")})
