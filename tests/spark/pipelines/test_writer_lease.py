"""The warehouse writer lease in the stage runner: a dead holder on this host is taken over at
once, a live one is waited for, one run id re-enters its own lease, and two stats runs started
together on one warehouse take turns and end correct."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time

import pytest

from mlhops.io import Catalog, read_table
from mlhops.io.lease import LeaseTiming, WarehouseBusyError, current_holder, new_token, writer_lease
from mlhops.io.tables.core import RUNS, WRITER_LEASE, WRITER_LEASE_SCHEMA
from mlhops.io.tables.monitoring import DRIFT_METRICS, PROFILE_METRICS, PROFILE_STATES, STAGE_WATERMARKS
from mlhops.io.tables import spec
from mlhops.pipelines.context import Context
from mlhops.pipelines.orchestrate import run_stages
from mlhops.pipelines.stage import StageRequest
from tests.spark.stats.conftest import diabetes_rows, stats_settings, write_features  # noqa: F401 - fixtures

# Short waits: a claimant that would wait for a live holder fails within this long.
QUICK = LeaseTiming(ttl_s=300.0, heartbeat_s=60.0, wait_s=1.0, poll_s=0.2)


def _plant_holder(spark, catalog: Catalog, owner: str, token: str) -> None:
    """A lease row held by ``token`` that expires in five minutes (a run that was just killed)."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    row = [("warehouse", owner, "etl", token, now, now, now + dt.timedelta(seconds=300))]
    spark.createDataFrame(row, WRITER_LEASE_SCHEMA).write.format("delta").mode("overwrite") \
        .save(catalog.path(WRITER_LEASE))


def _dead_process_token() -> str:
    """A token of this host naming a process that has exited (as after kill -9 of a run)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    host, _pid, _ticks, rand = new_token().split(":")
    return f"{host}:{proc.pid}:1:{rand}"


@pytest.fixture()
def catalog(settings_factory):
    return Catalog(settings_factory().warehouse)


def test_a_killed_runs_lease_on_this_host_is_taken_over_without_waiting_for_expiry(spark, catalog):
    _plant_holder(spark, catalog, "killed-run", _dead_process_token())
    t0 = time.monotonic()
    with writer_lease(spark, catalog, owner="rerun", stage="stats", timing=QUICK) as lease:
        assert current_holder(spark, catalog).token == lease.token
        assert current_holder(spark, catalog).owner == "rerun"
    assert time.monotonic() - t0 < QUICK.ttl_s / 10
    assert current_holder(spark, catalog) is None


@pytest.mark.parametrize("holder", ["this live process", "another host"])
def test_a_live_or_remote_holder_is_waited_for_then_the_run_fails_cleanly(spark, catalog, holder):
    token = new_token()  # names this very process: alive
    if holder == "another host":
        token = "elsewhere/pid[1]:" + token.split(":", 1)[1].replace(str(os.getpid()), "1", 1)
    _plant_holder(spark, catalog, "busy-run", token)
    with pytest.raises(WarehouseBusyError, match="run busy-run .stage etl. holds the writer lease"):
        with writer_lease(spark, catalog, owner="second", stage="stats", timing=QUICK):
            pass
    assert current_holder(spark, catalog).token == token  # left to its holder


def test_one_run_id_re_enters_its_lease_and_only_the_outer_block_releases_it(spark, catalog):
    with writer_lease(spark, catalog, owner="nightly-1", stage="nightly", timing=QUICK) as outer:
        with writer_lease(spark, catalog, owner="nightly-1", stage="etl", timing=QUICK) as inner:
            assert inner is outer
        assert current_holder(spark, catalog).token == outer.token
    assert current_holder(spark, catalog) is None


def test_two_stats_runs_started_together_take_turns_and_end_correct(spark, stats_settings, diabetes_rows):
    settings = stats_settings(granularities=["week"])
    write_features(spark, settings, diabetes_rows.head(2000))
    outcomes: dict[str, object] = {}

    def run(run_id: str) -> None:
        ctx = Context.build(settings, spark)
        outcomes[run_id] = run_stages(ctx, ["stats"], StageRequest(run_id=run_id)).outcomes[0]

    threads = [threading.Thread(target=run, args=(r,)) for r in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o.status for o in outcomes.values()) == ["ok", "ok"]
    cat = Catalog(settings.warehouse)
    runs = sorted(read_table(spark, cat, RUNS).where("stage = 'stats'").collect(), key=lambda r: r.started_at)
    assert [r.status for r in runs] == ["ok", "ok"]
    assert runs[0].ended_at <= runs[1].started_at  # one ran after the other, not interleaved
    # the second found nothing new, and the tables hold each key once
    assert runs[1].message == "no new feature rows"
    for table in (PROFILE_STATES, PROFILE_METRICS, DRIFT_METRICS, STAGE_WATERMARKS):
        df = read_table(spark, cat, table)
        keys = list(spec(table).keys)
        assert df.count() > 0 and df.groupBy(*keys).count().where("count > 1").count() == 0, table
    assert current_holder(spark, cat) is None
