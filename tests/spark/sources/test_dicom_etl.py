"""``mlhops etl --source dicom``: the pydicom test files into persons, imaging procedures,
acquisition measurements and the MI-CDM imaging tables, every file accounted for."""

from __future__ import annotations

import pytest

from mlhops.etl.sources import dicom, dicom_omop
from mlhops.io import Catalog, read_table
from mlhops.omop import mi_cdm

FILES = 177  # 168 DICOM-named files + 9 documentation/other files


@pytest.fixture(scope="module")
def loaded(spark, warehouse):
    # The session's shared warehouse (conftest.py): the DICOM run of one ETL per source.
    outcome = warehouse.outcomes["dicom"]
    assert outcome.result is not None, outcome.message
    result, settings = outcome.result, warehouse.settings
    catalog = Catalog(settings.warehouse)
    cols = {
        "image_occurrence": mi_cdm.columns("image_occurrence"),
        "image_feature": mi_cdm.columns("image_feature"),
        "procedure_occurrence": ["procedure_occurrence_id", "person_id", "procedure_source_value"],
        "measurement": ["measurement_id", "measurement_source_value", "value_as_number", "unit_source_value",
                        "value_source_value"],
        "person": ["person_id", "person_source_value", "gender_source_value"],
    }
    tables = {t: read_table(spark, catalog, f"omop.{t}").select(*c).toPandas() for t, c in cols.items()}
    quarantine = read_table(spark, catalog, "mlhops.quarantine").toPandas()
    return result, tables, quarantine


def test_every_file_is_an_image_a_quarantined_file_or_a_filtered_file(loaded):
    result, _, quarantine = loaded
    m = result.metrics
    assert result.stage == "etl" and result.details["layout"].startswith("dicom")
    assert m["rows_read.dicom_files"] == FILES
    assert m["rows_read.dicom_files"] == (
        m["rows_loaded.dicom_files"] + m["rows_quarantined.dicom_files"] + m["rows_filtered.dicom_files"]
    )
    files_q = quarantine[quarantine["source_table"] == dicom.SOURCE_TABLE]
    assert len(files_q) == m["rows_quarantined.dicom_files"]
    assert files_q["file_sha256"].notna().all()
    # Parse failures keep pydicom's reason; the rest name the attribute or the missing link.
    reasons = set(files_q["reason"].str.split(":").str[0])
    assert reasons <= {"InvalidDicomError", "truncated", "missing required DICOM attribute",
                       "imaging procedure not loaded (patient unknown or quarantined)"}


def test_imaging_tables_conform_to_the_mi_cdm_definition(spark, loaded):
    _, tables, _ = loaded
    occ, feat = tables["image_occurrence"], tables["image_feature"]
    assert list(occ.columns) == mi_cdm.columns("image_occurrence")
    assert list(feat.columns) == mi_cdm.columns("image_feature")
    for name, df in (("image_occurrence", occ), ("image_feature", feat)):
        assert len(df) > 0
        assert df[mi_cdm.required_columns(name)].notna().all().all(), name
        assert df[mi_cdm.primary_key(name)].is_unique
    assert set(feat["image_occurrence_id"]) <= set(occ["image_occurrence_id"])


def test_each_series_links_to_its_study_procedure_and_features_to_measurements(loaded):
    _, tables, _ = loaded
    occ, feat = tables["image_occurrence"], tables["image_feature"]
    proc, meas, person = tables["procedure_occurrence"], tables["measurement"], tables["person"]
    assert set(occ["procedure_occurrence_id"]) <= set(proc["procedure_occurrence_id"])
    assert set(occ["person_id"]) <= set(person["person_id"])
    linked = feat.merge(meas, left_on="image_feature_event_id", right_on="measurement_id")
    assert len(linked) == len(feat)
    assert (feat["image_feature_event_field_concept_id"] == mi_cdm.MEASUREMENT_FIELD_CONCEPT_ID).all()
    kvp = linked[linked["measurement_source_value"] == "00180060"]  # KVP: the DICOM tag is the code
    assert len(kvp) and (kvp["unit_source_value"] == "kV").all()
    assert kvp["value_as_number"].notna().all() and 120.0 in set(kvp["value_as_number"])  # CT_small.dcm
    assert set(proc["procedure_source_value"]) >= {"CT", "MR"}


def test_uids_are_pseudonymised_and_no_header_identifier_is_written(loaded):
    _, tables, _ = loaded
    occ = tables["image_occurrence"]
    assert occ["image_study_uid"].str.match(r"^2\.25\.\d+$").all()
    assert occ["image_series_uid"].str.match(r"^2\.25\.\d+$").all()
    # CT_small.dcm's real study UID and patient id never reach a table.
    ct_study = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
    everything = " ".join(df.astype(str).to_csv() for df in tables.values())
    assert ct_study not in everything and "1CT1" not in everything
    assert occ["local_path"].isna().all()
