"""UCI Diabetes rows laid out as ``mlhops.features`` rows for the drift stage's tests: four weeks
from 2024-01-01 (hour by row number), the site from the row number."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from mlhops.io import Catalog, merge_into
from mlhops.io.tables.monitoring import FEATURE_KEYS, FEATURES as FEATURES_TABLE
from tests.unit.drift.uci import CATEGORICAL, FEATURES, load_uci

START = dt.datetime(2024, 1, 1)
KEYS = ["person_id", "visit_occurrence_id", "event_time", "event_date", "care_site_id"]


def uci_weeks(sites: int, nrows: int = 3000) -> pd.DataFrame:
    """``nrows`` UCI rows spread over four weeks and ``sites`` sites; the lab count as a float."""
    df = load_uci(nrows=nrows).reset_index(drop=True)
    df["person_id"] = df["patient_nbr"].astype("int64") % 2_000_000_000
    df["visit_occurrence_id"] = df["encounter_id"].astype("int64")
    df["event_time"] = [START + dt.timedelta(hours=int(i) % (28 * 24)) for i in df.index]
    df["event_date"] = df["event_time"].dt.date
    df["care_site_id"] = (df.index % sites + 1).astype("int64")
    df["num_lab_procedures"] = df["num_lab_procedures"].astype("float64")
    return df


def write_features(spark, settings, df: pd.DataFrame) -> None:  # noqa: ANN001
    """Merge the rows into the warehouse's feature table."""
    cols = KEYS + [f.name for f in FEATURES]
    sdf = spark.createDataFrame(df[cols].astype({c: "object" for c in CATEGORICAL}))
    merge_into(sdf, Catalog(settings.warehouse), FEATURES_TABLE, list(FEATURE_KEYS))
