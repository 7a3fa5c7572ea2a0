import sys
import types

import pytest

from mlhops import pipelines
from mlhops.io import read_table
from mlhops.io.tables.core import RUNS
from mlhops.pipelines import Stage, StageRequest
from mlhops.pipelines.context import Context
from mlhops.pipelines.orchestrate import run_stages, select_stages
from tests.spark.pipelines import stages_for_tests as st


@pytest.fixture()
def test_stages(monkeypatch):
    names = {"source": st.source, "derived": st.derived, "broken": st.broken, "after_broken": st.after_broken}
    for name, ns in names.items():
        mod = types.ModuleType(f"mlhops_test_stage_{name}")
        mod.run = ns.run
        monkeypatch.setitem(sys.modules, mod.__name__, mod)
    registry = (
        Stage("source", "mlhops_test_stage_source", "writes t_source", options=st.SourceOptions),
        Stage("derived", "mlhops_test_stage_derived", "reads t_source", depends_on=("source",),
              input_tables=(st.T_SOURCE, st.T_OPTIONAL)),
        Stage("broken", "mlhops_test_stage_broken", "always fails"),
        Stage("after_broken", "mlhops_test_stage_after_broken", "needs broken", depends_on=("broken",)),
    )
    monkeypatch.setattr(pipelines, "STAGES", registry)


@pytest.fixture()
def ctx(spark, settings_factory):
    return Context.build(settings_factory(), spark)


def test_stage_with_unchanged_inputs_is_skipped_unless_forced(ctx, test_stages):
    first = run_stages(ctx, ["source", "derived"], StageRequest(run_id="r1"))
    assert [o.status for o in first.outcomes] == ["ok", "ok"]
    # source has no fingerprint: it runs again; its MERGE changes nothing, so derived is skipped
    again = run_stages(ctx, ["derived"], StageRequest(run_id="r2"))
    assert again.outcomes[0].status == "skipped"
    forced = run_stages(ctx, ["derived"], StageRequest(run_id="r3", force=True))
    assert forced.outcomes[0].status == "ok"


def test_new_input_version_makes_dependent_stage_run_again(ctx, test_stages):
    run_stages(ctx, ["source", "derived"], StageRequest(run_id="r1"))
    run_stages(ctx, ["source"], StageRequest(run_id="r2", options=st.SourceOptions(rows=((1, "a"), (2, "b")))))
    out = run_stages(ctx, ["derived"], StageRequest(run_id="r3"))
    assert out.outcomes[0].status == "ok"
    n = read_table(ctx.spark, ctx.catalog, st.T_DERIVED).first()["n"]
    assert n == 2


def test_failed_stage_blocks_dependents_but_not_the_others(ctx, test_stages):
    summary = run_stages(ctx, ["broken", "source", "after_broken"], StageRequest(run_id="r1"))
    status = {o.stage: o.status for o in summary.outcomes}
    assert status == {"broken": "failed", "source": "ok", "after_broken": "blocked"}
    assert summary.failed == ["broken", "after_broken"]
    text = summary.render()
    assert "FAILED: broken, after_broken" in text and "RuntimeError: disk full" in text


def test_every_stage_outcome_is_recorded_once_per_run(ctx, test_stages):
    run_stages(ctx, ["broken", "source"], StageRequest(run_id="rx"))
    run_stages(ctx, ["broken", "source"], StageRequest(run_id="rx"))
    runs = read_table(ctx.spark, ctx.catalog, RUNS).where("run_id = 'rx'")
    got = sorted((r.stage, r.status) for r in runs.collect())
    assert got == [("broken", "failed"), ("source", "ok")]


def test_only_and_from_stage_select_in_nightly_order(test_stages):
    assert select_stages(only=["derived", "source"]) == ["source", "derived"]
    assert select_stages(from_stage="broken") == ["broken", "after_broken"]


def test_an_input_table_that_does_not_exist_yet_counts_as_absent_until_it_appears(ctx, test_stages):
    from mlhops.io import merge_into

    run_stages(ctx, ["source", "derived"], StageRequest(run_id="r1"))
    assert run_stages(ctx, ["derived"], StageRequest(run_id="r2")).outcomes[0].status == "skipped"
    merge_into(ctx.spark.createDataFrame([(1,)], "k int"), ctx.catalog, st.T_OPTIONAL, ["k"])
    assert run_stages(ctx, ["derived"], StageRequest(run_id="r3")).outcomes[0].status == "ok"
