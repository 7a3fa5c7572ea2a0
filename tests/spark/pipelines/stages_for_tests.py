"""Small real stages used to exercise the orchestrator (registered by the tests via monkeypatch)."""

from __future__ import annotations

from mlhops.io import Catalog, merge_into, read_table
from mlhops.pipelines.base import StageResult


class source:  # noqa: N801 - module-like namespace: a stage writing mlhops.t_source
    @staticmethod
    def run(spark, settings, params):
        rows = params.extra.get("rows", [(1, "a")])
        df = spark.createDataFrame(rows, "k int, v string")
        merge_into(df, Catalog(settings.warehouse), "mlhops.t_source", ["k"])
        return StageResult("source", "ok", metrics={"rows": float(len(rows))})


class derived:  # noqa: N801 - reads t_source, skipped when its version did not change
    INPUT_TABLES = ["mlhops.t_source"]

    @staticmethod
    def run(spark, settings, params):
        cat = Catalog(settings.warehouse)
        n = read_table(spark, cat, "mlhops.t_source").count()
        merge_into(spark.createDataFrame([(0, n)], "k int, n long"), cat, "mlhops.t_derived", ["k"])
        return StageResult("derived", "ok", metrics={"n": float(n)})


class broken:  # noqa: N801
    @staticmethod
    def run(spark, settings, params):
        raise RuntimeError("disk full")


class after_broken:  # noqa: N801
    @staticmethod
    def run(spark, settings, params):
        return StageResult("after_broken", "ok")
