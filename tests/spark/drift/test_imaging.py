"""Imaging metadata drift: MI-CDM image_feature rows of real chest X-rays, a scanner replacement."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from mlhops.drift.detectors import SuiteConfig, fit_suite
from mlhops.drift.imaging import MEASUREMENT_FIELD_CONCEPT_ID, ImagingParameter, image_metadata_frame, imaging_features
from tests.conftest import shared_path

# Measurement concepts used for the acquisition parameters in this test (any ids work).
PARAMS = [
    ImagingParameter(1001, "pixel_spacing_mm", "numeric"),
    ImagingParameter(1002, "columns", "numeric"),
    ImagingParameter(1003, "rows", "numeric"),
    ImagingParameter(1004, "view_position", "categorical"),
]
DX_MODALITY = 4321


def _cxr() -> pd.DataFrame:
    path = shared_path("nih_chestxray14_metadata", "Data_Entry_2017_first40000rows.csv.gz")
    d = pd.read_csv(path, nrows=12000)
    d.columns = ["image", "findings", "follow_up", "patient", "age", "sex", "view", "width", "height", "sx", "sy"]
    return d


def _mi_cdm_tables(spark, d: pd.DataFrame):
    """image_occurrence / image_feature / measurement rows carrying the real metadata."""
    occ, feat, meas = [], [], []
    for i, r in enumerate(d.itertuples()):
        occ.append((i, int(r.patient), None, dt.date(2024, 1, 1) + dt.timedelta(days=i % 28), DX_MODALITY))
        values = {1001: (float(r.sx), None), 1002: (float(r.width), None), 1003: (float(r.height), None), 1004: (None, r.view)}
        for k, (num, text) in values.items():
            mid = i * 10 + k % 10
            meas.append((mid, k, num, text, None))
            feat.append((mid, i, MEASUREMENT_FIELD_CONCEPT_ID, mid))
    occ_df = spark.createDataFrame(occ, "image_occurrence_id long, person_id long, visit_occurrence_id long, image_occurrence_date date, modality_concept_id int")
    feat_df = spark.createDataFrame(feat, "image_feature_id long, image_occurrence_id long, image_feature_event_field_concept_id int, image_feature_event_id long")
    meas_df = spark.createDataFrame(meas, "measurement_id long, measurement_concept_id int, value_as_number double, value_source_value string, value_as_concept_id int")
    return occ_df, feat_df, meas_df


def test_pivot_gives_one_row_per_image_with_its_parameters(spark):
    d = _cxr().head(5)
    wide = image_metadata_frame(*_mi_cdm_tables(spark, d), PARAMS, {DX_MODALITY: "DX"}).orderBy("image_occurrence_id").toPandas()
    assert len(wide) == 5 and list(wide["modality"]) == ["DX"] * 5
    np.testing.assert_allclose(wide["pixel_spacing_mm"], d["sx"])
    assert list(wide["view_position"]) == list(d["view"]) and list(wide["columns"]) == list(d["width"].astype(float))


def test_scanner_replacement_is_flagged_and_the_same_scanner_mix_is_not(spark):
    d = _cxr()
    new_scanner = np.isclose(d["sx"], 0.139)
    old = d[~new_scanner].sample(1400, random_state=0)
    ref, same = old.iloc[:700], old.iloc[700:]
    replaced = pd.concat([same.iloc[:175], d[new_scanner].sample(175, random_state=1)])
    frames = {}
    for name, part in {"ref": ref, "same": same.iloc[:350], "replaced": replaced}.items():
        frames[name] = image_metadata_frame(*_mi_cdm_tables(spark, part), PARAMS, {DX_MODALITY: "DX"}).toPandas()
    cfg = SuiteConfig(detectors=("mmd", "ks"), vae_epochs=15, latent_dim=4, device="cpu")
    suite = fit_suite(frames["ref"], imaging_features(PARAMS), cfg)
    same_out = {o.detector: o for o in suite.score(frames["same"])}
    new_out = {o.detector: o for o in suite.score(frames["replaced"])}
    assert new_out["mmd"].drift and new_out["mmd"].p_value < 0.01
    assert not same_out["mmd"].drift
