"""Task labels from the real OMOP CDM 5.4 visit_occurrence (Synthea27Nj)."""

import datetime as dt

import pandas as pd
import pytest

from mlhops.io.tables.models import LABELS_SCHEMA
from mlhops.models.labels import build_labels
from mlhops.models.task import load_task
from tests.conftest import shared_path

COLS = "visit_occurrence_id int, person_id int, visit_concept_id int, visit_start_date date, visit_end_date date"


@pytest.fixture(scope="module")
def visits(spark):
    pdf = pd.read_csv(shared_path("omop_synthea27nj_cdm54", "VISIT_OCCURRENCE.csv"),
                      usecols=["visit_occurrence_id", "person_id", "visit_concept_id", "visit_start_date", "visit_end_date"])
    for c in ("visit_start_date", "visit_end_date"):
        pdf[c] = pd.to_datetime(pdf[c]).dt.date
    return pdf, spark.createDataFrame(pdf[[c.split()[0] for c in COLS.split(", ")]], COLS)


def _expected_readmission(pdf: pd.DataFrame, index_ids, outcome_ids, horizon: int) -> dict[int, tuple[int, dt.date]]:
    out = {}
    for _, v in pdf[pdf["visit_concept_id"].isin(index_ids)].iterrows():
        later = pdf[(pdf["person_id"] == v["person_id"]) & pdf["visit_concept_id"].isin(outcome_ids)
                    & (pdf["visit_occurrence_id"] != v["visit_occurrence_id"])
                    & (pdf["visit_start_date"] > v["visit_end_date"])
                    & (pdf["visit_start_date"] <= v["visit_end_date"] + dt.timedelta(days=horizon))]
        if len(later):
            out[int(v["visit_occurrence_id"])] = (1, v["visit_end_date"] + dt.timedelta(days=horizon))
        else:
            out[int(v["visit_occurrence_id"])] = (0, v["visit_end_date"] + dt.timedelta(days=horizon))
    return out


def test_readmission_labels_match_an_independent_computation(spark, settings_factory, visits):
    pdf, df = visits
    task = load_task(settings_factory(), "readmission_30d")
    got = {r["visit_occurrence_id"]: (r["label"], r["label_available_date"]) for r in build_labels(df, task).collect()}
    expected = _expected_readmission(pdf, task.label.index_visit_concept_ids, task.label.outcome_visit_concept_ids, 30)
    assert got == expected
    assert len(got) == int(pdf["visit_concept_id"].isin([9201, 262]).sum())


def test_readmission_to_any_hospital_visit_counts_emergency_returns(spark, settings_factory, visits):
    import dataclasses

    pdf, df = visits
    base = load_task(settings_factory(), "readmission_30d")
    task = dataclasses.replace(base, label=dataclasses.replace(base.label, outcome_visit_concept_ids=(9201, 9203, 9202),
                                                               horizon_days=365))
    got = {r["visit_occurrence_id"]: r["label"] for r in build_labels(df, task).collect()}
    expected = _expected_readmission(pdf, (9201, 262), (9201, 9203, 9202), 365)
    assert got == {k: v[0] for k, v in expected.items()}
    assert sum(got.values()) > 0  # the real data has returns within a year


def test_prolonged_stay_labels_and_their_availability(spark, settings_factory, visits):
    pdf, df = visits
    task = load_task(settings_factory(), "prolonged_stay")
    out = build_labels(df, task)
    assert out.schema.simpleString() == spark.createDataFrame([], LABELS_SCHEMA).schema.simpleString()
    idx = pdf[pdf["visit_concept_id"].isin([9201, 262])]
    for r in out.collect():
        v = idx[idx["visit_occurrence_id"] == r["visit_occurrence_id"]].iloc[0]
        los = (v["visit_end_date"] - v["visit_start_date"]).days
        assert r["label"] == int(los >= 7)
        assert r["index_date"] == v["visit_start_date"]
        assert r["label_available_date"] == min(v["visit_end_date"], v["visit_start_date"] + dt.timedelta(days=7))
