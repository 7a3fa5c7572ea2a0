import pytest

from mlhops.io import Catalog, merge_into, read_table, replace_where, table_version


def test_merge_twice_with_same_rows_leaves_table_identical(spark, tmp_path):
    cat = Catalog(str(tmp_path))
    df = spark.createDataFrame([(1, "a"), (2, "b")], "k int, v string")
    merge_into(df, cat, "mlhops.t", ["k"])
    merge_into(df, cat, "mlhops.t", ["k"])
    assert sorted(map(tuple, read_table(spark, cat, "mlhops.t").collect())) == [(1, "a"), (2, "b")]
    assert table_version(spark, cat, "mlhops.t") == 0  # no empty commit either


def test_merge_updates_changed_rows_and_inserts_new_ones(spark, tmp_path):
    cat = Catalog(str(tmp_path))
    merge_into(spark.createDataFrame([(1, "a"), (2, "b")], "k int, v string"), cat, "mlhops.t", ["k"])
    merge_into(spark.createDataFrame([(2, "B"), (3, "c")], "k int, v string"), cat, "mlhops.t", ["k"])
    rows = sorted(map(tuple, read_table(spark, cat, "mlhops.t").collect()))
    assert rows == [(1, "a"), (2, "B"), (3, "c")]
    assert table_version(spark, cat, "mlhops.t") == 1


def test_replace_where_rewrites_only_its_window(spark, tmp_path):
    cat = Catalog(str(tmp_path))
    replace_where(spark.createDataFrame([(1, 1.0), (2, 2.0)], "w int, x double"), cat, "mlhops.w", "w = 1")
    replace_where(spark.createDataFrame([(1, 9.0)], "w int, x double"), cat, "mlhops.w", "w = 1")
    assert sorted(map(tuple, read_table(spark, cat, "mlhops.w").collect())) == [(1, 9.0), (2, 2.0)]


def test_a_capped_write_splits_its_own_files_and_leaves_the_session_setting_alone(spark, tmp_path):
    from mlhops.io import write_overwrite

    cat = Catalog(str(tmp_path))
    before = spark.conf.get("spark.sql.files.maxRecordsPerFile")
    rows = spark.range(95).selectExpr("cast(id as int) AS w", "cast(id as double) AS x").coalesce(1)
    write_overwrite(rows, cat, "mlhops.capped", max_records_per_file=10)
    replace_where(rows.where("w < 40"), cat, "mlhops.capped", "w < 40", max_records_per_file=10)
    write_overwrite(rows, cat, "mlhops.uncapped")
    from pyspark.sql import functions as F

    def rows_per_file(table: str) -> list[int]:
        df = read_table(spark, cat, table).withColumn("f", F.input_file_name())
        return sorted(r[1] for r in df.groupBy("f").count().collect())

    capped = rows_per_file("mlhops.capped")
    assert sum(capped) == 95 and max(capped) <= 10 and len(capped) >= 10  # both writes capped
    assert rows_per_file("mlhops.uncapped") == [95]
    assert spark.conf.get("spark.sql.files.maxRecordsPerFile") == before


def test_table_version_is_the_latest_commit_in_the_history_past_a_log_checkpoint(spark, tmp_path):
    from delta.tables import DeltaTable

    cat = Catalog(str(tmp_path))
    assert table_version(spark, cat, "mlhops.v") is None
    for i in range(12):  # Delta writes a log checkpoint every 10 commits
        replace_where(spark.createDataFrame([(i % 3, float(i))], "w int, x double"), cat, "mlhops.v", f"w = {i % 3}")
    history = DeltaTable.forPath(spark, cat.path("mlhops.v")).history().agg({"version": "max"}).first()[0]
    assert table_version(spark, cat, "mlhops.v") == history == 11


def test_a_run_with_another_salt_is_refused_on_a_warehouse_built_with_one(spark, settings_factory, tmp_path,
                                                                          monkeypatch):
    from mlhops.errors import ConfigError
    from mlhops.io.warehouse_identity import SALT_FINGERPRINT, recorded
    from mlhops.pipelines.context import Context

    settings = settings_factory(tmp_path / "wh")
    monkeypatch.setenv(settings.deid.salt_env, "the-warehouse-salt")
    first = Context.build(settings, spark)
    fingerprint = first.hasher.fingerprint()
    assert recorded(spark, first.catalog, SALT_FINGERPRINT) == fingerprint
    assert "the-warehouse-salt" not in fingerprint and len(fingerprint) == 16
    assert Context.build(settings, spark).hasher.fingerprint() == fingerprint  # same salt: fine
    monkeypatch.setenv(settings.deid.salt_env, "another-salt")
    with pytest.raises(ConfigError, match="different de-identification salt") as err:
        _ = Context.build(settings, spark).hasher
    assert "another-salt" not in str(err.value) and "the-warehouse-salt" not in str(err.value)
