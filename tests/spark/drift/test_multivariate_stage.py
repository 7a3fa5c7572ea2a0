"""drift fit registers a version in MLflow; drift loads it by alias and writes per-window results."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from pyspark.sql import functions as F

from mlhops.drift.registry import DetectorNotRegisteredError, load_registered
from mlhops.io import Catalog, read_table
from mlhops.io.tables.monitoring import MULTIVARIATE_DRIFT
from mlhops.pipelines.context import Context
from mlhops.pipelines.options import DriftOptions
from mlhops.pipelines.orchestrate import run_stage
from mlhops.pipelines.stage import StageRequest
from tests.spark.drift.uci_features import uci_weeks, write_features
from tests.unit.drift.uci import FEATURES

SITES = 2


def _feature_table(spark, settings) -> pd.DataFrame:
    """Two reference weeks then two scored weeks, the lab counts of the fourth 1.6 times as high."""
    df = uci_weeks(SITES)
    week4 = df["event_time"] >= dt.datetime(2024, 1, 22)
    df.loc[week4, "num_lab_procedures"] = df.loc[week4, "num_lab_procedures"] * 1.6
    write_features(spark, settings, df)
    return df


@pytest.fixture(scope="module")
def drift_settings(settings_factory):
    return settings_factory(drift={
        "reference_start": "2024-01-01", "reference_end": "2024-01-15", "slices": ["site"], "sample_cap": 800,
        "min_rows": 150, "detectors": ["mmd", "ks"], "vae_epochs": 5, "n_permutations": 50, "device": "cpu",
        "model_name": "test-drift",
        "fit_if_missing": False,  # production behaviour (the local demo overlay turns it on)
    })


def test_fit_registers_then_nightly_scores_by_alias_and_flags_the_shifted_week(spark, drift_settings):
    from mlhops.drift.multivariate import drift_slices, fit_detectors, reference_period, score_windows

    settings = drift_settings
    rows = _feature_table(spark, settings)
    ctx = Context.build(settings, spark)
    ds, catalog, client = settings.drift, ctx.catalog, ctx.tracker.client()
    slices = drift_slices(ds, settings.stats.slices)
    with pytest.raises(DetectorNotRegisteredError):
        load_registered(client, "test-drift", "production")
    # The nightly action never fits unless configured to: without a registered version it fails
    # and says what to run.
    request = StageRequest(run_id="r0", start=dt.date(2024, 1, 15), end=dt.date(2024, 1, 22), options=DriftOptions())
    nightly = run_stage(ctx, "drift", request).result
    assert nightly.status == "failed" and "mlhops drift fit" in nightly.message
    with ctx.tracker.run("drift_fit") as run:
        out = fit_detectors(spark, catalog, ds, features=FEATURES, slices=slices,
                            period=reference_period(ds, settings.stats.baseline), client=client,
                            run_id=run.info.run_id, alias=ds.alias)
    assert out["version"] == "1" and out["n_suites"] == 1 + SITES
    reg = load_registered(client, "test-drift", "production")
    # Preprocessing and VAE were fitted on a part of the reference period disjoint from x_ref.
    base = reg.suites[("all", "all")]
    assert base.meta["n_fit"] == out["n_fit"] > 0 and base.meta["n_reference"] == out["n_reference"]
    assert out["n_fit"] + out["n_reference"] <= int((rows["event_time"] < dt.datetime(2024, 1, 15)).sum())
    assert reg.tags["mlhops.reference_end"] == "2024-01-15"
    assert reg.tags["mlhops.features"].split(",") == [f.name for f in FEATURES]
    assert reg.tags["mlhops.data_version.features"] == "0"

    with ctx.tracker.run("drift") as run:
        res = score_windows(spark, catalog, ds, slices=slices, start=dt.date(2024, 1, 15), end=dt.date(2024, 1, 29),
                            run_id="run-1", client=client, mlflow_run_id=run.info.run_id)
    assert res["windows"] == 2 and res["version"] == "1"
    table = read_table(spark, Catalog(settings.warehouse), MULTIVARIATE_DRIFT)
    rows = {(r["window_start"].day, r["slice_value"], r["detector"]): r for r in table.collect()}
    assert len(rows) == 2 * (1 + SITES) * 2
    assert rows[(22, "all", "mmd")]["drift"] and not rows[(15, "all", "mmd")]["drift"]
    assert rows[(22, "all", "mmd")]["detector_version"] == "1" and rows[(22, "all", "mmd")]["device"] == "cpu"
    # Re-running the same windows replaces its rows (MERGE on the result keys) with the same p-values.
    with ctx.tracker.run("drift") as run:
        score_windows(spark, catalog, ds, slices=slices, start=dt.date(2024, 1, 15), end=dt.date(2024, 1, 29),
                      run_id="run-2", client=client, mlflow_run_id=run.info.run_id)
    again = read_table(spark, Catalog(settings.warehouse), MULTIVARIATE_DRIFT)
    assert again.count() == len(rows)
    assert sorted(r["p_value"] for r in again.collect()) == sorted(r["p_value"] for r in rows.values())
    assert again.where(F.col("run_id") == "run-1").count() == 0
