"""What an operator finds of a run in Spark and in the log: each stage's Spark jobs described with
the stage (and step) and the run id, a failed stage's traceback at ERROR with its window, and the
exit code a launcher sees when alerts fire."""

from __future__ import annotations

import datetime as dt
import logging
import sys
import types

import pytest
from pyspark import TaskContext

from mlhops import pipelines
from mlhops.cli import run_with_spark
from mlhops.pipelines import Stage, StageRequest
from mlhops.pipelines.stage import StageResult
from mlhops.spark import job_description

SEEN: list[str | None] = []


def _description_inside_a_task(spark) -> str | None:
    """The job description as the executor sees it (a real job, one row)."""
    return spark.sparkContext.parallelize([0], 1).map(
        lambda _: TaskContext.get().getLocalProperty("spark.job.description")).first()


def _labelled(ctx, req):
    SEEN.append(_description_inside_a_task(ctx.spark))
    with job_description(ctx.spark, "labelled", "write"):
        SEEN.append(_description_inside_a_task(ctx.spark))
    SEEN.append(_description_inside_a_task(ctx.spark))
    return StageResult("labelled", "alerts", "1 alert")


def _broken(ctx, req):
    raise RuntimeError("disk full")


@pytest.fixture()
def stages(monkeypatch):
    for name, fn in {"labelled": _labelled, "broken": _broken}.items():
        mod = types.ModuleType(f"mlhops_label_stage_{name}")
        mod.run = fn
        monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setattr(pipelines, "STAGES", (
        Stage("labelled", "mlhops_label_stage_labelled", "describes its jobs"),
        Stage("broken", "mlhops_label_stage_broken", "always fails"),
    ))
    SEEN.clear()


def test_a_step_label_wraps_the_jobs_of_the_block_and_restores_the_one_before(spark):
    spark.sparkContext.setJobDescription("outer")
    try:
        with job_description(spark, "stats", "merge"):
            assert _description_inside_a_task(spark) == "mlhops stats/merge"
        assert _description_inside_a_task(spark) == "outer"
    finally:
        spark.sparkContext.setJobDescription(None)  # type: ignore[arg-type]


def test_each_stage_and_step_describes_its_jobs_with_the_run(spark, settings_factory, stages):
    code = run_with_spark(settings_factory(), ["labelled"], StageRequest(run_id="run-7"), alerts_exit=0)
    assert code == 0  # alerts, but the launcher asked for 0
    assert SEEN == ["mlhops labelled [run run-7]", "mlhops labelled/write [run run-7]", "mlhops labelled [run run-7]"]
    assert spark.sparkContext.getLocalProperty("spark.job.description") is None  # cleared after the stage


def test_a_failed_stage_logs_its_traceback_at_error_with_the_window(spark, settings_factory, stages, caplog):
    request = StageRequest(run_id="run-8", start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 2))
    with caplog.at_level(logging.INFO):
        assert run_with_spark(settings_factory(), ["broken"], request) == 1
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR and "broken" in r.getMessage()]
    assert "2026-01-01" in record.getMessage() and "2026-01-02" in record.getMessage()
    assert record.exc_info is not None and "disk full" in str(record.exc_info[1])
