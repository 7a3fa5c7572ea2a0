"""UCI Diabetes 130-US hospitals as drift test data (``?`` = missing), read with pandas."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tests.conftest import shared_path

NUMERIC = (
    "time_in_hospital", "num_lab_procedures", "num_procedures", "num_medications",
    "number_outpatient", "number_emergency", "number_inpatient", "number_diagnoses",
)
CATEGORICAL = ("race", "gender", "age", "admission_type_id", "admission_source_id", "A1Cresult", "payer_code")
BINARY = ("change", "diabetesMed")


@dataclass(frozen=True)
class Feat:
    """Name and kind, the part of ``FeatureSpec`` the drift code reads."""

    name: str
    kind: str


FEATURES: list[Feat] = (
    [Feat(n, "numeric") for n in NUMERIC] + [Feat(n, "categorical") for n in CATEGORICAL] + [Feat(n, "binary") for n in BINARY]
)


def load_uci(nrows: int | None = None) -> pd.DataFrame:
    """The encounter table with ``?`` as missing and the binary flags as booleans."""
    path = shared_path("uci_diabetes_130_us_hospitals", "diabetic_data.csv.gz")
    df = pd.read_csv(path, na_values=["?"], nrows=nrows, low_memory=False)
    for col in ("admission_type_id", "admission_source_id", "discharge_disposition_id"):
        df[col] = df[col].astype("string")
    df["change"] = df["change"].map({"Ch": True, "No": False})
    df["diabetesMed"] = df["diabetesMed"].map({"Yes": True, "No": False})
    return df
