"""A stage gives back the blocks it persisted when it ends, so one driver can run every stage."""

import sys
import threading
import time
import types

from mlhops import pipelines
from mlhops.pipelines import Stage, StageRequest
from mlhops.pipelines.context import Context
from mlhops.pipelines.memory import released_after, storage_memory_used
from mlhops.pipelines.orchestrate import run_stages
from mlhops.pipelines.stage import StageResult


def _persisted_ids(spark) -> set[int]:
    return {int(k) for k in spark.sparkContext._jsc.getPersistentRDDs().keySet()}


def test_checkpoints_made_in_a_stage_are_released_when_it_ends(spark):
    kept = spark.range(10).persist()
    kept.count()
    before = _persisted_ids(spark)
    with released_after(spark):
        made = spark.range(1000).localCheckpoint(eager=True)
        assert _persisted_ids(spark) - before, "the checkpoint holds blocks while the stage runs"
    assert _persisted_ids(spark) == before, "the stage's checkpoint is released, what came before is kept"
    assert kept.count() == 10
    del made
    kept.unpersist()


def test_a_stage_still_running_in_another_thread_keeps_its_blocks(spark):
    before = _persisted_ids(spark)
    inner_started, outer_done = threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def other_stage():
        with released_after(spark):
            df = spark.range(500).localCheckpoint(eager=True)
            inner_started.set()
            outer_done.wait(60)
            seen["rows"] = df.count()  # its checkpoint must still be readable

    t = threading.Thread(target=other_stage)
    with released_after(spark):
        t.start()
        assert inner_started.wait(60)
    outer_done.set()
    t.join(60)
    assert seen["rows"] == 500
    assert _persisted_ids(spark) == before, "the last stage to end released both"


def test_the_orchestrator_releases_each_stages_checkpoints(spark, settings_factory, monkeypatch):
    held = []  # a stage's DataFrames may outlive it (a closure, a module cache): the blocks go anyway
    made: set[int] = set()

    def run(ctx, req):
        before_checkpoint = _persisted_ids(ctx.spark)
        held.append(ctx.spark.range(1000).localCheckpoint(eager=True))
        made.update(_persisted_ids(ctx.spark) - before_checkpoint)
        return StageResult("checkpointing", "ok")

    mod = types.ModuleType("mlhops_test_stage_checkpointing")
    mod.run = run
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setattr(pipelines, "STAGES", (Stage("checkpointing", mod.__name__, "checkpoints"),))
    before = _persisted_ids(spark)
    summary = run_stages(Context.build(settings_factory(), spark), ["checkpointing"], StageRequest(run_id="m1"))
    assert [o.status for o in summary.outcomes] == ["ok"]
    # the stage's checkpoint is gone and nothing new is held; blocks of earlier tests whose
    # DataFrames are unreachable may go too (the stage's end collects garbage, and Spark's
    # cleaner then drops them), so "before" is an upper bound, not an equality
    after = _persisted_ids(spark)
    assert held and made and not made & after
    assert after <= before


def _storage_used(spark) -> int:
    return storage_memory_used(spark) or 0


def test_broadcast_tables_of_a_stages_dropped_dataframes_are_freed_when_it_ends(spark):
    from pyspark.sql import functions as F

    before = _storage_used(spark)
    with released_after(spark):
        small = spark.range(400_000).withColumn("half", F.col("id") / 2)
        joined = spark.range(400_000).join(F.broadcast(small), "id")
        checkpointed = joined.localCheckpoint(eager=True)  # as the ETL's steps do
        held = _storage_used(spark) - before
        assert held > 4_000_000, "the broadcast table sits in the driver's storage memory"
        cycle: list = [joined, checkpointed]
        cycle.append(cycle)  # only Python's cyclic collection frees these DataFrames
        del joined, small, checkpointed, cycle
    deadline = time.monotonic() + 5
    while _storage_used(spark) - before > held / 20 and time.monotonic() < deadline:
        time.sleep(0.2)  # nothing here collects garbage: the stage's end must have
    assert _storage_used(spark) - before <= held / 20, "the stage's broadcast table is freed"


def test_deltas_own_snapshot_cache_outlives_the_stage(spark, tmp_path):
    path = str(tmp_path / "t")
    spark.range(100).write.format("delta").save(path)

    def delta_states() -> set[int]:
        rdds = spark.sparkContext._jsc.getPersistentRDDs()
        return {int(k) for k, r in rdds.items() if str(r.name() or "").startswith("Delta Table State")}

    before = _persisted_ids(spark)
    with released_after(spark):
        spark.read.format("delta").load(path).count()
        spark.sql(f"DESCRIBE DETAIL delta.`{path}`").collect()
        spark.range(10).localCheckpoint(eager=True)
        states = delta_states() - before
    assert states, "Delta cached the snapshot's state during the stage"
    assert states <= delta_states(), "Delta's snapshot cache is Delta's to release"
    assert _persisted_ids(spark) - before == states, "everything else the stage persisted is released"
