"""A small real warehouse for the lifecycle specifications, built from UCI Diabetes 130-US.

Each UCI encounter (first ``N`` by ``encounter_id``, the only approximation of time order the
table offers) becomes an inpatient OMOP visit on a synthetic date spread over ``WEEKS`` weeks;
an encounter readmitted within 30 days (``<30``) gets a follow-up ER-inpatient visit 10 days
after discharge, so the configured readmission logic reproduces the real label exactly.
Feature columns are the UCI columns under feature-spec names; ``care_site_id`` is the
admission type (it has small groups, which must be suppressed). From ``DRIFT_FROM`` the
``prior_inpatient`` feature is corrupted (planted calibration drift).
"""

from __future__ import annotations

import datetime as dt
import textwrap

import numpy as np
import pandas as pd
import pytest

from tests.conftest import shared_path

N = 4000
WEEKS = 8
# From this discharge date the feed doubles prior inpatient counts plus two: a planted upstream
# change that miscalibrates a model trained before it.
DRIFT_FROM = dt.date(2024, 2, 5)
START = dt.date(2024, 1, 1)

TASK_YAML = """
name: uci_readmission
registered_model: uci_readmission
description: UCI encounters as OMOP inpatient visits, readmission within 30 days
label:
  kind: readmission
  index_visit_concept_ids: [9201]
  outcome_visit_concept_ids: [262]
  horizon_days: 30
algorithm: logistic_regression
validation_fraction: 0.3
split_seed: 17
target_sensitivity: 0.6
"""

FEATURES_YAML = """
features:
  - {name: sex, kind: categorical, source: person, field: sex}
  - {name: race, kind: categorical, source: person, field: race}
  - {name: age, kind: numeric, source: person, field: age}
  - {name: length_of_stay_days, kind: numeric, source: visit, field: length_of_stay_days}
  - {name: admitted_from, kind: categorical, source: visit, field: admitted_from}
  - {name: discharged_to, kind: categorical, source: visit, field: discharged_to}
  - {name: n_labs, kind: numeric, source: measurement, concept_ids: [1], agg: count}
  - {name: n_drugs, kind: numeric, source: drug, agg: count}
  - {name: n_procedures, kind: numeric, source: procedure, agg: count}
  - {name: n_diagnoses, kind: numeric, source: condition, agg: count}
  - {name: prior_inpatient, kind: numeric, source: observation, concept_ids: [2], agg: count}
  - {name: prior_emergency, kind: numeric, source: observation, concept_ids: [3], agg: count}
  - {name: prior_outpatient, kind: numeric, source: observation, concept_ids: [4], agg: count}
"""


def uci_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(visits, features)`` pandas frames of the first N UCI encounters."""
    raw = pd.read_csv(shared_path("uci_diabetes_130_us_hospitals", "diabetic_data.csv.gz"),
                      na_values="?", keep_default_na=False, low_memory=False)
    raw = raw.sort_values("encounter_id").head(N).reset_index(drop=True)
    day = (np.arange(N) * (WEEKS * 7) // N).astype(int)
    start = [START + dt.timedelta(days=int(d)) for d in day]
    end = [s + dt.timedelta(days=int(t)) for s, t in zip(start, raw["time_in_hospital"])]
    visits = pd.DataFrame({
        "visit_occurrence_id": raw["encounter_id"].astype("int64"),
        "person_id": raw["patient_nbr"].astype("int64"),
        "visit_concept_id": 9201,
        "visit_start_date": start,
        "visit_end_date": end,
    })
    readmitted = raw["readmitted"] == "<30"
    follow = visits[readmitted].copy()
    follow["visit_occurrence_id"] = follow["visit_occurrence_id"] + 10**9
    follow["visit_concept_id"] = 262
    follow["visit_start_date"] = [e + dt.timedelta(days=10) for e in follow["visit_end_date"]]
    follow["visit_end_date"] = follow["visit_start_date"]
    age_mid = raw["age"].str.extract(r"\[(\d+)-")[0].astype(float) + 5
    features = pd.DataFrame({
        "person_id": raw["patient_nbr"].astype("int64"),
        "visit_occurrence_id": raw["encounter_id"].astype("int64"),
        "event_time": pd.to_datetime(end),
        "event_date": end,
        "care_site_id": raw["admission_type_id"].astype("int64"),
        "sex": raw["gender"].str.lower(),
        "race": raw["race"].str.lower(),
        "age": age_mid,
        "length_of_stay_days": raw["time_in_hospital"].astype(float),
        "admitted_from": raw["admission_source_id"].astype(str),
        "discharged_to": raw["discharge_disposition_id"].astype(str),
        "n_labs": raw["num_lab_procedures"].astype(float),
        "n_drugs": raw["num_medications"].astype(float),
        "n_procedures": raw["num_procedures"].astype(float),
        "n_diagnoses": raw["number_diagnoses"].astype(float),
        "prior_inpatient": raw["number_inpatient"].astype(float),
        "prior_emergency": raw["number_emergency"].astype(float),
        "prior_outpatient": raw["number_outpatient"].astype(float),
    })
    late = features["event_date"] >= DRIFT_FROM
    features.loc[late, "prior_inpatient"] = features.loc[late, "prior_inpatient"] * 2 + 2
    return pd.concat([visits, follow], ignore_index=True), features


def uci_overrides(root, **models) -> dict:
    """Write the UCI task and feature definitions under ``root``; the settings overrides using them.

    Args:
        root: a folder for the definitions.
        models: further ``models`` settings (merged over the shared ones).
    """
    (root / "models").mkdir()
    (root / "models" / "uci_readmission.yaml").write_text(textwrap.dedent(TASK_YAML))
    (root / "features").mkdir()
    (root / "features" / "uci.yaml").write_text(textwrap.dedent(FEATURES_YAML))
    return {
        "models": {
            "task": "uci_readmission", "tasks_dir": str(root / "models"), "window": "week",
            "bootstrap": {"replicates": 40},
            "fairness": {"attributes": ["sex", "race", "age_band", "site"], "min_group_size": 60},
            "triggers": {"max_ece": 0.08, "periodic_retrain_days": 0},
        } | models,
        "features": {"definitions_dir": str(root / "features")},
    }


@pytest.fixture(scope="module")
def uci_warehouse(spark, settings_factory, tmp_path_factory):
    """Settings + a warehouse holding omop.visit_occurrence and mlhops.features from UCI."""
    from mlhops.io import Catalog, write_overwrite

    root = tmp_path_factory.mktemp("uci_models")
    settings = settings_factory(root / "wh", **uci_overrides(root))
    visits, features = uci_frames()
    cat = Catalog(settings.warehouse)
    write_overwrite(spark.createDataFrame(visits), cat, "omop.visit_occurrence")
    write_overwrite(spark.createDataFrame(features), cat, "mlhops.features")
    return settings, visits, features

