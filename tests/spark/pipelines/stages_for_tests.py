"""Small real stages used to exercise the orchestrator (registered by the tests via monkeypatch)."""

from __future__ import annotations

from dataclasses import dataclass

from mlhops.io import merge_into, read_table
from mlhops.pipelines.stage import StageResult

T_SOURCE = "mlhops.t_source"
T_DERIVED = "mlhops.t_derived"
# An input of `derived` that no test stage writes (a table that may appear later).
T_OPTIONAL = "mlhops.t_optional"


@dataclass(frozen=True)
class SourceOptions:
    rows: tuple[tuple[int, str], ...] = ((1, "a"),)


class source:  # noqa: N801 - module-like namespace: a stage writing mlhops.t_source
    @staticmethod
    def run(ctx, req):
        rows = list(req.options.rows)
        df = ctx.spark.createDataFrame(rows, "k int, v string")
        merge_into(df, ctx.catalog, T_SOURCE, ["k"])
        return StageResult("source", "ok", metrics={"rows": float(len(rows))})


class derived:  # noqa: N801 - reads t_source, skipped when its version did not change
    @staticmethod
    def run(ctx, req):
        n = read_table(ctx.spark, ctx.catalog, T_SOURCE).count()
        merge_into(ctx.spark.createDataFrame([(0, n)], "k int, n long"), ctx.catalog, T_DERIVED, ["k"])
        return StageResult("derived", "ok", metrics={"n": float(n)})


class broken:  # noqa: N801
    @staticmethod
    def run(ctx, req):
        raise RuntimeError("disk full")


class after_broken:  # noqa: N801
    @staticmethod
    def run(ctx, req):
        return StageResult("after_broken", "ok")
