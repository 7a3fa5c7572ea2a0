import sys
import types

import pytest

from mlhops import pipelines
from mlhops.io import Catalog, read_table
from mlhops.pipelines.base import StageParams
from mlhops.pipelines.orchestrate import run_stages, select_stages
from tests.spark.pipelines import stages_for_tests as st


@pytest.fixture()
def test_stages(monkeypatch):
    names = {"source": st.source, "derived": st.derived, "broken": st.broken, "after_broken": st.after_broken}
    for name, ns in names.items():
        mod = types.ModuleType(f"mlhops_test_stage_{name}")
        for attr in ("run", "INPUT_TABLES"):
            if hasattr(ns, attr):
                setattr(mod, attr, getattr(ns, attr))
        monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setattr(pipelines, "STAGES", {n: f"mlhops_test_stage_{n}" for n in names})
    monkeypatch.setattr(pipelines, "DEPENDS_ON", {"derived": ("source",), "after_broken": ("broken",)})
    import mlhops.pipelines.orchestrate as orch

    monkeypatch.setattr(orch, "STAGES", pipelines.STAGES)
    monkeypatch.setattr(orch, "DEPENDS_ON", pipelines.DEPENDS_ON)


def test_stage_with_unchanged_inputs_is_skipped_unless_forced(spark, settings_factory, test_stages):
    s = settings_factory()
    first = run_stages(spark, s, ["source", "derived"], StageParams(run_id="r1"))
    assert [o.status for o in first.outcomes] == ["ok", "ok"]
    # source has no fingerprint: it runs again; its MERGE changes nothing, so derived is skipped
    again = run_stages(spark, s, ["derived"], StageParams(run_id="r2"))
    assert again.outcomes[0].status == "skipped"
    forced = run_stages(spark, s, ["derived"], StageParams(run_id="r3", force=True))
    assert forced.outcomes[0].status == "ok"


def test_new_input_version_makes_dependent_stage_run_again(spark, settings_factory, test_stages):
    s = settings_factory()
    run_stages(spark, s, ["source", "derived"], StageParams(run_id="r1"))
    run_stages(spark, s, ["source"], StageParams(run_id="r2", extra={"rows": [(1, "a"), (2, "b")]}))
    out = run_stages(spark, s, ["derived"], StageParams(run_id="r3"))
    assert out.outcomes[0].status == "ok"
    n = read_table(spark, Catalog(s.warehouse), "mlhops.t_derived").first()["n"]
    assert n == 2


def test_failed_stage_blocks_dependents_but_not_the_others(spark, settings_factory, test_stages):
    s = settings_factory()
    summary = run_stages(spark, s, ["broken", "source", "after_broken"], StageParams(run_id="r1"))
    status = {o.stage: o.status for o in summary.outcomes}
    assert status == {"broken": "failed", "source": "ok", "after_broken": "blocked"}
    assert summary.failed == ["broken", "after_broken"]
    text = summary.render()
    assert "FAILED: broken, after_broken" in text and "RuntimeError: disk full" in text


def test_every_stage_outcome_is_recorded_once_per_run(spark, settings_factory, test_stages):
    s = settings_factory()
    run_stages(spark, s, ["broken", "source"], StageParams(run_id="rx"))
    run_stages(spark, s, ["broken", "source"], StageParams(run_id="rx"))
    runs = read_table(spark, Catalog(s.warehouse), "mlhops.runs").where("run_id = 'rx'")
    got = sorted((r.stage, r.status) for r in runs.collect())
    assert got == [("broken", "failed"), ("source", "ok")]


def test_only_and_from_stage_select_in_nightly_order(test_stages):
    assert select_stages(only=["derived", "source"]) == ["source", "derived"]
    assert select_stages(from_stage="broken") == ["broken", "after_broken"]
