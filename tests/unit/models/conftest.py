"""Real predictions for the model-math specifications: UCI Diabetes 130-US, readmitted <30 days.

A logistic regression is trained once per session on a patient-level split of the real table
(first encounter order by ``encounter_id``, ``?`` = missing); the held-out patients' scores and
labels are what every metric, interval, shift and detector test runs on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from tests.conftest import reads_shared_data, shared_path

NUMERIC = [
    "time_in_hospital", "num_lab_procedures", "num_procedures", "num_medications",
    "number_outpatient", "number_emergency", "number_inpatient", "number_diagnoses",
]
CATEGORICAL = [
    "race", "gender", "age", "admission_type_id", "discharge_disposition_id",
    "admission_source_id", "A1Cresult", "insulin", "change", "diabetesMed",
]
SEED = 7


@dataclass(frozen=True)
class UciPredictions:
    """Held-out encounters (patients not used for fitting): label, score, subgroup columns."""

    validation: pd.DataFrame  # reference cases (columns: y, p, race, gender, age, ...)
    deployment: pd.DataFrame  # later cases of other patients, in encounter order


@pytest.fixture(scope="session")
@reads_shared_data
def uci() -> UciPredictions:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    raw = pd.read_csv(
        shared_path("uci_diabetes_130_us_hospitals", "diabetic_data.csv.gz"),
        na_values="?", keep_default_na=False, low_memory=False,
    ).sort_values("encounter_id")
    raw["y"] = (raw["readmitted"] == "<30").astype(int)
    for c in CATEGORICAL:
        raw[c] = raw[c].astype(str)
    rng = np.random.default_rng(SEED)
    patients = raw["patient_nbr"].unique()
    train_patients = set(rng.choice(patients, size=len(patients) // 2, replace=False))
    is_train = raw["patient_nbr"].isin(train_patients).to_numpy()
    pre = ColumnTransformer([
        ("num", StandardScaler(), NUMERIC),
        ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=50), CATEGORICAL),
    ])
    model = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=500))])
    train = raw[is_train]
    model.fit(train[NUMERIC + CATEGORICAL], train["y"])
    keep = ["y", "race", "gender", "age", "encounter_id", "patient_nbr", "admission_source_id"]

    def predict(df: pd.DataFrame) -> pd.DataFrame:
        out = df[keep].copy()
        out["p"] = model.predict_proba(df[NUMERIC + CATEGORICAL])[:, 1]
        return out.reset_index(drop=True)

    held_out = predict(raw[~is_train])
    val_patients = set(rng.choice(held_out["patient_nbr"].unique(), size=held_out["patient_nbr"].nunique() // 2, replace=False))
    is_val = held_out["patient_nbr"].isin(val_patients)
    return UciPredictions(
        validation=held_out[is_val].reset_index(drop=True),
        deployment=held_out[~is_val].reset_index(drop=True),
    )
