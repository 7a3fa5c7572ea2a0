"""The stage registry is the one description of the pipeline the orchestrator and the CLI read."""

from __future__ import annotations

import dataclasses
import importlib
import inspect

import pytest

from mlhops.cli import build_parser
from mlhops.errors import ConfigError
from mlhops.pipelines import STAGES, NoOptions, StageRequest, nightly_stages, stage
from mlhops.pipelines.options import DriftOptions


def test_every_stage_module_defines_run_and_its_declared_fingerprint():
    for st in STAGES:
        module = importlib.import_module(st.module)
        assert list(inspect.signature(module.run).parameters) == ["ctx", "req"], st.name
        assert hasattr(module, "fingerprint") == st.fingerprinted, st.name


def test_dependencies_name_earlier_stages():
    seen: set[str] = set()
    for st in STAGES:
        assert set(st.depends_on) <= seen, st.name
        seen.add(st.name)


def test_options_are_frozen_dataclasses_with_defaults():
    for st in STAGES:
        assert dataclasses.is_dataclass(st.options), st.name
        assert st.options.__dataclass_params__.frozen, st.name  # type: ignore[attr-defined]
        st.options()  # every field has a default: nightly runs each stage with its defaults


def test_promote_is_on_demand_and_the_rest_run_nightly_in_order():
    assert "promote" not in nightly_stages()
    assert nightly_stages()[:3] == ["etl", "quality", "features"]
    assert nightly_stages()[-2:] == ["alerts", "report"]


def test_a_stage_refuses_options_of_another_stage():
    with pytest.raises(TypeError, match="stage stats takes NoOptions"):
        stage("stats").run(None, StageRequest(run_id="r", options=DriftOptions()))  # type: ignore[arg-type]


def test_unknown_stage_is_a_configuration_error_naming_the_known_ones():
    with pytest.raises(ConfigError, match="known: etl, quality"):
        stage("no-such-stage")


def test_cli_offers_every_stage_and_maps_verbs_to_typed_options():
    from mlhops.cli import _stage_and_options

    parser = build_parser()
    verbs = parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse has no public accessor
    for st in STAGES:
        assert st.name in verbs, st.name
    name, options = _stage_and_options(parser.parse_args(["drift", "fit", "--no-set-alias"]))
    assert (name, options) == ("drift", DriftOptions(action="fit", set_alias=False))
    name, options = _stage_and_options(parser.parse_args(["rollback", "--reason", "bad calibration"]))
    assert name == "promote" and options.action == "rollback" and options.reason == "bad calibration"
    assert _stage_and_options(parser.parse_args(["quality"])) == ("quality", NoOptions())
