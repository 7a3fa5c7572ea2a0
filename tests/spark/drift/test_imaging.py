"""Imaging metadata drift: MI-CDM image_feature rows of real chest X-rays, a scanner replacement."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from mlhops.drift.detectors import SuiteConfig, fit_suite
from mlhops.drift.imaging import MEASUREMENT_FIELD_CONCEPT_ID, ImagingParameter, image_metadata_frame, imaging_features
from tests.conftest import shared_path

# Acquisition parameters by DICOM tag (the measurement_source_value the DICOM source writes).
PARAMS = [
    ImagingParameter(("00280030",), "pixel_spacing_mm", "numeric"),
    ImagingParameter(("00280011",), "columns", "numeric"),
    ImagingParameter(("00280010",), "rows", "numeric"),
    ImagingParameter(("00185101",), "view_position", "categorical"),
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
        values = {"00280030": (float(r.sx), None), "00280011": (float(r.width), None),
                  "00280010": (float(r.height), None), "00185101": (None, r.view)}
        for k, (tag, (num, text)) in enumerate(values.items()):
            mid = i * 10 + k
            meas.append((mid, tag, num, text, None))
            feat.append((mid, i, MEASUREMENT_FIELD_CONCEPT_ID, mid))
    occ_df = spark.createDataFrame(occ, "image_occurrence_id long, person_id long, visit_occurrence_id long, image_occurrence_date date, modality_concept_id int")
    feat_df = spark.createDataFrame(feat, "image_feature_id long, image_occurrence_id long, image_feature_event_field_concept_id int, image_feature_event_id long")
    meas_df = spark.createDataFrame(meas, "measurement_id long, measurement_source_value string, value_as_number double, value_source_value string, value_as_concept_id int")
    return occ_df, feat_df, meas_df


def test_pivot_gives_one_row_per_image_with_its_parameters(spark):
    d = _cxr().head(5)
    wide = image_metadata_frame(*_mi_cdm_tables(spark, d), PARAMS, modality_labels={DX_MODALITY: "DX"}).orderBy("image_occurrence_id").toPandas()
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
        frames[name] = image_metadata_frame(*_mi_cdm_tables(spark, part), PARAMS, modality_labels={DX_MODALITY: "DX"}).toPandas()
    cfg = SuiteConfig(detectors=("mmd", "ks"), vae_epochs=15, latent_dim=4, device="cpu")
    suite = fit_suite(frames["ref"], imaging_features(PARAMS), cfg)
    same_out = {o.detector: o for o in suite.score(frames["same"])}
    new_out = {o.detector: o for o in suite.score(frames["replaced"])}
    assert new_out["mmd"].drift and new_out["mmd"].p_value < 0.01
    assert not same_out["mmd"].drift


def test_default_parameters_read_every_tag_the_imaging_sources_write_but_the_transfer_syntax():
    from mlhops.drift.imaging import DEFAULT_PARAMETERS
    from mlhops.etl.sources import dicom_omop

    written = {p.tag for p in dicom_omop.PARAMETERS} | set(dicom_omop.SPACING_TAGS.values())
    read = {t for p in DEFAULT_PARAMETERS for t in p.tags}
    assert read <= written and written - read == {"00020010"}  # TransferSyntaxUID: encoding, not acquisition
