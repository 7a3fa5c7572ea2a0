"""Registered drift detectors keep their patient rows in Delta (mlhops.detector_references), not
in MLflow: same results after the round trip, a pyfunc model that scores, no half registration."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from mlhops.drift.detectors import SuiteConfig, fit_suite
from mlhops.drift.references import DETECTOR_REFERENCES, FIT_PART, REFERENCE_PART, write_references
from mlhops.drift.registry import load_registered, register_suites
from mlhops.io import read_table
from mlhops.pipelines.context import Context
from tests.unit.drift.uci import FEATURES, load_uci

N = 300


@pytest.fixture(scope="module")
def uci_parts():
    df = load_uci(nrows=4 * N).reset_index(drop=True)
    df["person_id"] = df["patient_nbr"].astype("int64")
    return df.iloc[:N].reset_index(drop=True), df.iloc[N:2 * N].reset_index(drop=True), df.iloc[2 * N:].reset_index(drop=True)


@pytest.fixture(scope="module")
def registered(spark, settings_factory, uci_parts):
    fit, ref, _ = uci_parts
    ctx = Context.build(settings_factory(), spark)
    cfg = SuiteConfig(detectors=("mmd", "ks", "classifier"), vae_epochs=2, n_permutations=30, classifier_epochs=1,
                      latent_dim=3, hidden_dim=16, device="cpu")
    suite = fit_suite(ref, FEATURES, cfg, fit_sample=fit)
    with ctx.tracker.run("drift_fit") as run:
        version = register_suites(ctx.tracker.client(), {("all", "all"): suite}, model_name="refs-drift",
                                  run_id=run.info.run_id, tags={"mlhops.reference_end": "2024-01-15"},
                                  alias="production", spark=spark, catalog=ctx.catalog, fit_persons=fit["person_id"])
    return ctx, suite, version


def test_loaded_from_delta_the_detectors_give_the_same_results(spark, registered, uci_parts):
    ctx, suite, version = registered
    cur = uci_parts[2]
    reg = load_registered(ctx.tracker.client(), "refs-drift", "production")  # the contract: no catalog needed
    assert reg.version == version and reg.tags["mlhops.reference_end"] == "2024-01-15"
    loaded = reg.suites[("all", "all")]
    assert [(o.detector, o.p_value, o.statistic) for o in loaded.score(cur, seed=3)] == [
        (o.detector, o.p_value, o.statistic) for o in suite.score(cur, seed=3)]
    rows = read_table(spark, ctx.catalog, DETECTOR_REFERENCES).where(f"model_version = '{version}'")
    assert rows.where(f"part = '{REFERENCE_PART}'").count() == N and rows.where(f"part = '{FIT_PART}'").count() == N


def test_the_mlflow_model_holds_no_patient_row_and_its_pyfunc_scores(registered, uci_parts):
    ctx, suite, version = registered
    client = ctx.tracker.client()
    model = mlflow.pyfunc.load_model(f"models:/refs-drift/{version}")
    root = Path(model.unwrap_python_model().root)
    assert list(root.rglob("*.json")) and not list(root.rglob("x_ref.npy"))
    assert {c.name for c in model.metadata.get_input_schema().inputs} >= {"slice", *[f.name for f in FEATURES]}
    reg = load_registered(client, "refs-drift", "production")
    cur = uci_parts[2].head(150)
    out = mlflow.pyfunc.load_model(f"models:/refs-drift/{version}").unwrap_python_model()
    out.attach({k: s.reference for k, s in reg.suites.items()})
    scored = out.predict(None, cur[[f.name for f in FEATURES]], params={"seed": 3})
    expected = {o.detector: o.p_value for o in suite.score(cur, seed=3)}
    assert dict(zip(scored["detector"], scored["p_value"])) == expected
    assert set(scored["slice"]) == {"all"} and set(scored["n_current"]) == {150}


def test_a_failed_registration_leaves_neither_version_nor_rows(spark, registered, monkeypatch):
    ctx, suite, _ = registered
    client = ctx.tracker.client()

    def refuse(*args, **kwargs):
        raise RuntimeError("registry down")

    monkeypatch.setattr(client, "set_registered_model_alias", refuse)
    before = read_table(spark, ctx.catalog, DETECTOR_REFERENCES).count()
    with ctx.tracker.run("drift_fit") as run, pytest.raises(RuntimeError, match="registry down"):
        register_suites(client, {("all", "all"): suite}, model_name="refs-drift", run_id=run.info.run_id, tags={},
                        alias="production", spark=spark, catalog=ctx.catalog)
    assert [str(v.version) for v in client.search_model_versions("name = 'refs-drift'")] == ["1"]
    assert read_table(spark, ctx.catalog, DETECTOR_REFERENCES).count() == before


def test_rewriting_a_version_replaces_its_rows_never_duplicates_them(spark, registered, uci_parts):
    ctx, suite, version = registered
    before = read_table(spark, ctx.catalog, DETECTOR_REFERENCES).count()
    write_references(spark, ctx.catalog, {("all", "all"): suite}, uci_parts[0]["person_id"], model_name="refs-drift",
                     version=version)
    assert read_table(spark, ctx.catalog, DETECTOR_REFERENCES).count() == before
