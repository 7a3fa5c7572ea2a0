"""A population generated with another seed and state runs through with no code change:
``mlhops generate`` (Synthea, a state and seed no other test or the demo uses), then ``mlhops etl``
and ``mlhops nightly --only quality --only features`` on it, as a user would type them."""

from __future__ import annotations

import csv
import os

import pytest

from mlhops.io import Catalog, read_table
from mlhops.io.tables.core import RUNS
from mlhops.runtime_setup import SYNTHEA_VERSION, cached_synthea_classpath

pytestmark = [pytest.mark.slow, pytest.mark.heavy]

STATE, SEED, PATIENTS, YEARS = "Arizona", 5, 12, 3


@pytest.fixture(scope="module")
def generated(spark, tmp_path_factory, settings_factory):
    """The population, its warehouse after the CLI runs, and the runs rows by stage."""
    from mlhops.cli import main

    assert cached_synthea_classpath(), f"the Synthea {SYNTHEA_VERSION} jars are not cached: run scripts/test"
    out = tmp_path_factory.mktemp("arizona")
    wh = tmp_path_factory.mktemp("arizona-warehouse")
    assert main(["generate", "--population", str(PATIENTS), "--state", STATE, "--seed", str(SEED),
                 "--years-of-history", str(YEARS), "--out", str(out), "--force"]) == 0
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = settings_factory(warehouse=wh).mlflow.tracking_uri
    try:
        common = ["--conf", "local", "--warehouse", str(wh)]
        codes = [
            main(["etl", "--source", "synthea-csv", "--input", str(out / "csv"), *common, "--run-id", "gen-etl"]),
            main(["nightly", "--only", "quality", "--only", "features", *common, "--run-id", "gen-nightly"]),
        ]
    finally:
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old
    runs = {r.stage: r for r in read_table(spark, Catalog(str(wh)), RUNS).collect()}
    return {"csv": out / "csv", "warehouse": wh, "codes": codes, "runs": runs}


def _omop(spark, generated, table):
    return read_table(spark, Catalog(str(generated["warehouse"])), f"omop.{table}")


def test_every_stage_runs_without_failure(generated):
    assert generated["codes"] == [0, 0]
    assert set(generated["runs"]) == {"etl", "quality", "features"}
    assert not [s for s, r in generated["runs"].items() if r.status in ("failed", "skipped")]


def test_every_row_read_is_loaded_quarantined_or_filtered(generated):
    m = generated["runs"]["etl"].metrics
    tables = {k.split(".", 1)[1] for k in m if k.startswith("rows_read.")}
    assert {"patients", "encounters", "conditions", "observations"} <= tables
    for t in tables:
        assert m[f"rows_loaded.{t}"] == m[f"rows_read.{t}"] - m[f"rows_quarantined.{t}"] - m[f"rows_filtered.{t}"], t
    assert m["rows_read"] == sum(m[f"rows_read.{t}"] for t in tables)


def test_every_generated_patient_not_quarantined_is_a_person(spark, generated):
    with open(generated["csv"] / "patients.csv", newline="", encoding="utf-8") as fh:
        patients = sum(1 for _ in csv.DictReader(fh))
    m = generated["runs"]["etl"].metrics
    assert patients >= PATIENTS  # living patients, and those who died on top
    assert m["rows_read.patients"] == patients
    assert _omop(spark, generated, "person").count() == patients - m["rows_quarantined.patients"]
    states = {r.state for r in _omop(spark, generated, "location").select("state").distinct().collect()}
    assert "AZ" in states or STATE in states


def test_vocabulary_mapping_rates_are_reported(generated):
    m = generated["runs"]["etl"].metrics
    rates = {k: v for k, v in m.items() if k.startswith("mapping_rate.")}
    assert rates and all(0.0 <= v <= 1.0 for v in rates.values())
    assert any(v > 0 for v in rates.values())


def test_features_hold_one_row_per_visit(spark, generated):
    visits = _omop(spark, generated, "visit_occurrence").count()
    features = read_table(spark, Catalog(str(generated["warehouse"])), "mlhops.features")
    assert visits > 0
    assert features.select("visit_occurrence_id").distinct().count() == visits
