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


def test_table_version_is_the_latest_commit_in_the_history_past_a_log_checkpoint(spark, tmp_path):
    from delta.tables import DeltaTable

    cat = Catalog(str(tmp_path))
    assert table_version(spark, cat, "mlhops.v") is None
    for i in range(12):  # Delta writes a log checkpoint every 10 commits
        replace_where(spark.createDataFrame([(i % 3, float(i))], "w int, x double"), cat, "mlhops.v", f"w = {i % 3}")
    history = DeltaTable.forPath(spark, cat.path("mlhops.v")).history().agg({"version": "max"}).first()[0]
    assert table_version(spark, cat, "mlhops.v") == history == 11
