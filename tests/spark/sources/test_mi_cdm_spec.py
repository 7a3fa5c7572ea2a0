"""The MI-CDM definition shipped in the repo is the OHDSI original, mechanically normalised."""

from __future__ import annotations

import csv

from pyspark.sql import types as T

from mlhops.omop import mi_cdm


def test_shipped_spec_is_the_normalised_ohdsi_original():
    original = mi_cdm.normalise_original_spec(mi_cdm.spec_path(mi_cdm.MI_ORIGINAL_SPEC_FILE))
    with open(mi_cdm.spec_path(), newline="", encoding="utf-8") as fh:
        shipped = list(csv.DictReader(fh))
    assert list(shipped[0]) == list(mi_cdm.OMOP_SPEC_COLUMNS)
    assert shipped == original


def test_image_occurrence_columns_types_and_required_fields_follow_the_spec():
    sch = mi_cdm.schema("image_occurrence")
    assert sch.fieldNames() == [
        "image_occurrence_id", "person_id", "visit_occurrence_id", "procedure_occurrence_id",
        "wadors_uri", "local_path", "image_occurrence_date", "image_study_uid", "image_series_uid",
        "modality_concept_id", "anatomic_site_concept_id",
    ]
    assert sch["image_occurrence_date"].dataType == T.DateType()
    assert sch["modality_concept_id"].dataType == T.IntegerType()
    assert set(mi_cdm.required_columns("image_occurrence")) == {
        "image_occurrence_id", "person_id", "procedure_occurrence_id", "image_occurrence_date",
        "image_study_uid", "image_series_uid", "modality_concept_id",
    }
    assert mi_cdm.primary_key("image_occurrence") == "image_occurrence_id"


def test_image_feature_links_to_occurrence_and_keeps_algorithm_provenance():
    specs = {f.name: f for f in mi_cdm.fields("image_feature")}
    assert specs["image_occurrence_id"].fk_table == "image_occurrence"
    assert specs["alg_datetime"].spark_type == T.TimestampType()
    assert not specs["image_feature_event_id"].required
    assert mi_cdm.table_names() == ["image_feature", "image_occurrence"]
