"""Registered versions are pyfunc models returning the positive-class probability (real UCI rows).

A pipeline of :func:`build_estimator` is fitted on real UCI Diabetes 130-US encounters and
registered in a temporary local MLflow store; the specifications read it back the ways a
consumer of the registry would (``mlflow.pyfunc``, a fresh interpreter without mlhops installed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlhops.config.model import MlflowSettings
from mlhops.features.spec import FeatureSpec
from mlhops.models import registry
from mlhops.models.recalibration import RecalibratedClassifier, fit_score_map
from mlhops.models.reference import build_profile
from mlhops.models.training import NULL_CATEGORY, build_estimator, synthetic_example
from mlhops.tracking import Tracker
from tests.conftest import reads_shared_data, shared_path

SPECS = (
    FeatureSpec("age", "numeric", "person", field="age"),
    FeatureSpec("length_of_stay", "numeric", "visit", field="length_of_stay_days"),
    FeatureSpec("n_medications", "numeric", "drug", agg="count"),
    FeatureSpec("insulin_any", "binary", "drug", agg="any"),
    FeatureSpec("sex", "categorical", "person", field="sex"),
    FeatureSpec("race", "categorical", "person", field="race"),
    FeatureSpec("admitted_from", "categorical", "visit", field="admitted_from"),
)
FEATURES = tuple(s.name for s in SPECS)
N_TRAIN = 6000
N_HELD_OUT = 400
NAME = "unit_uci_readmission"


def _uci_rows() -> tuple[pd.DataFrame, np.ndarray]:
    raw = pd.read_csv(shared_path("uci_diabetes_130_us_hospitals", "diabetic_data.csv.gz"), na_values="?",
                      keep_default_na=False, low_memory=False, nrows=N_TRAIN + N_HELD_OUT).sort_values("encounter_id")
    rows = pd.DataFrame({
        "age": raw["age"].str.extract(r"\[(\d+)-")[0].astype(float) + 5,  # typed as the feature table: double
        "length_of_stay": raw["time_in_hospital"].astype(float),
        "n_medications": raw["num_medications"].astype(float),
        "insulin_any": (raw["insulin"] != "No").astype("int32"),  # binary features are int columns
        "sex": raw["gender"].str.lower().where(raw["gender"].isin(["Male", "Female"])),
        "race": raw["race"].astype(object).where(raw["race"].notna(), None),
        "admitted_from": raw["admission_source_id"].astype(str),
    }).reset_index(drop=True)
    return rows, (raw["readmitted"] == "<30").to_numpy(np.int64)


@pytest.fixture(scope="module")
@reads_shared_data
def fitted():
    rows, y = _uci_rows()
    model = build_estimator(SPECS, "logistic_regression").fit(rows.iloc[:N_TRAIN], y[:N_TRAIN])
    return model, rows.iloc[:N_TRAIN], rows.iloc[N_TRAIN:].reset_index(drop=True), y[N_TRAIN:]


@pytest.fixture(scope="module")
def registered(fitted, tmp_path_factory):
    """The fitted pipeline as champion, its Platt recalibration as challenger."""
    model, train, held_out, y = fitted
    tracker = Tracker(MlflowSettings(), environment="test", local_dir=str(tmp_path_factory.mktemp("mlflow")))
    p = model.predict_proba(held_out)[:, 1]
    profile = build_profile(y, p, 0.1, ece_bins=10)
    common = dict(features=FEATURES, profile=profile, metrics={}, params={}, tags={})
    champion, _ = registry.register(tracker, name=NAME, model=model, example=train.head(5),
                                    alias=registry.CHAMPION, run_name="train", **common)
    recal = RecalibratedClassifier(model, fit_score_map(y, p, "platt"), 0.1)
    challenger, _ = registry.register(tracker, name=NAME, model=recal, example=held_out.head(5),
                                      alias=registry.CHALLENGER, run_name="recalibrate", **common)
    return tracker, {registry.CHAMPION: (champion, model), registry.CHALLENGER: (challenger, recal)}


def test_the_input_example_is_training_medians_and_frequent_categories(fitted):
    model, train, _, _ = fitted
    example = synthetic_example(model, FEATURES)
    assert list(example.columns) == list(FEATURES) and len(example) == 1
    row = example.iloc[0]
    for col in ("age", "length_of_stay", "n_medications", "insulin_any"):
        assert row[col] == pytest.approx(float(np.nanmedian(train[col])))
    for col in ("sex", "race", "admitted_from"):
        counts = train[col].fillna(NULL_CATEGORY).astype(str).value_counts()
        assert row[col] != NULL_CATEGORY and counts[row[col]] >= 5


@pytest.mark.parametrize("alias", [registry.CHAMPION, registry.CHALLENGER])
def test_pyfunc_predict_returns_the_estimators_positive_class_probability(registered, fitted, alias):
    import mlflow

    tracker, versions = registered
    _, estimator = versions[alias]
    held_out = fitted[2]
    served = mlflow.pyfunc.load_model(registry.model_uri(tracker, NAME, alias)).predict(held_out)
    expected = estimator.predict_proba(held_out)[:, 1]
    np.testing.assert_allclose(np.asarray(served, dtype=float), expected, rtol=0, atol=1e-12)
    assert np.unique(np.round(expected, 6)).size > 50  # probabilities, not 0/1 decisions


def test_mlhops_loads_the_same_estimators_back(registered, fitted):
    tracker, versions = registered
    held_out = fitted[2]
    for alias, (version, estimator) in versions.items():
        loaded = registry.load(tracker, NAME, alias)
        assert loaded.version == version and loaded.features == FEATURES
        np.testing.assert_array_equal(loaded.model.predict_proba(held_out), estimator.predict_proba(held_out))


def test_each_version_declares_features_in_and_one_float_out_with_a_synthetic_example(registered, fitted):
    import mlflow

    tracker, versions = registered
    for alias, (version, estimator) in versions.items():
        uri = registry.model_uri(tracker, NAME, version)
        info = mlflow.models.get_model_info(uri)
        inputs = {c["name"]: c["type"] for c in info.signature.inputs.to_dict()}
        assert inputs == {"age": "double", "length_of_stay": "double", "n_medications": "double",
                          "insulin_any": "double", "sex": "string", "race": "string", "admitted_from": "string"}
        assert [c["type"] for c in info.signature.outputs.to_dict()] == ["double"]
        example = mlflow.models.Model.load(uri).load_input_example(uri)
        pd.testing.assert_frame_equal(example, synthetic_example(estimator, FEATURES), check_dtype=False)


def test_a_version_loads_and_predicts_where_mlhops_is_not_installed(registered, fitted, tmp_path):
    """The recalibration pickles classes of mlhops: they travel with the version as code_paths."""
    import mlflow

    tracker, versions = registered
    local = mlflow.artifacts.download_artifacts(registry.model_uri(tracker, NAME, registry.CHALLENGER),
                                                dst_path=str(tmp_path))
    requirements = (Path(local) / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements and "mlhops" not in requirements
    held_out = fitted[2].head(50)
    held_out.to_pickle(tmp_path / "rows.pkl")
    lib = str(Path(registry.__file__).resolve().parents[2])
    script = (
        "import json, sys\n"
        f"sys.path = [p for p in sys.path if p != {lib!r}]\n"
        "import mlflow, pandas as pd\n"
        f"rows = pd.read_pickle({str(tmp_path / 'rows.pkl')!r})\n"
        f"model = mlflow.pyfunc.load_model({local!r})\n"
        "p = model.predict(rows)\n"
        "import mlhops\n"
        "print(json.dumps({'p': [float(v) for v in p], 'mlhops': mlhops.__file__}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["mlhops"].startswith(str(Path(local).resolve())) or out["mlhops"].startswith(local)
    expected = versions[registry.CHALLENGER][1].predict_proba(held_out)[:, 1]
    np.testing.assert_allclose(out["p"], expected, rtol=0, atol=1e-9)
