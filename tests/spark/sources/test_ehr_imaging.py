"""Synthea ``imaging_studies.csv`` (3.x layout: synthea27, 2.x layout: ma115) into the MI-CDM
``image_occurrence``: each study is an imaging procedure of the shared loader, each series of a
loaded study one image_occurrence linked to that procedure, its person and its visit; rows of
unknown patients or encounters are quarantined with file, line, field and reason. (The FHIR
ImagingStudy side, and its agreement with the CSV one, is in test_fhir_source.py.)"""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from mlhops.config.secrets import resolve_salt
from mlhops.hashing import KeyedHasher
from mlhops.io import Catalog, read_table
from mlhops.omop import mi_cdm
from tests.spark.etl.conftest import data_rows
from tests.spark.sources.conftest import IMAGING_PLANTED


def _pseudo(salt: str, kind: str, value: str, hex_digits: int) -> str:
    return KeyedHasher(salt).hash_value(kind, value)[:hex_digits]


def _series_uid(salt: str, uid: str) -> str:
    """``dicom_omop.pseudo_uid`` of a source series UID."""
    return "2.25." + str(int(_pseudo(salt, "dicom-series", uid, 16), 16))


@pytest.fixture(params=["synthea27", "ma115"])
def run(request):
    return request.getfixturevalue(request.param)


def test_each_series_of_a_loaded_study_is_one_image_occurrence(spark, run):
    rows = data_rows(run.input_dir / "imaging_studies.csv")
    salt = resolve_salt(run.settings)
    catalog = Catalog(run.settings.warehouse)

    def table(name: str):
        return read_table(spark, catalog, f"omop.{name}")

    occ = table("image_occurrence")
    assert [(f.name, f.dataType) for f in occ.schema.fields] == [(f.name, f.dataType) for f in mi_cdm.schema("image_occurrence").fields]
    got = (
        occ.join(table("procedure_occurrence"), ["procedure_occurrence_id", "person_id", "visit_occurrence_id"])
        .join(table("person"), "person_id")
        .join(table("visit_occurrence"), ["visit_occurrence_id", "person_id"])
        .where(F.col("image_occurrence_date") == F.col("procedure_date"))
        .where(F.col("image_occurrence_date").between(F.col("visit_start_date"), F.col("visit_end_date")))
        .select("person_source_value", "image_series_uid", "procedure_source_value")
    )
    # Every row's patient, series and procedure code, once per series (the export has no
    # findings or acquisition parameters: no image_feature).
    expected = {(_pseudo(salt, "person", r["PATIENT"], 32), _series_uid(salt, r["SERIES_UID"]), r["PROCEDURE_CODE"]) for r in rows}
    assert sorted(tuple(r) for r in got.collect()) == sorted(expected)
    assert occ.count() == len({r["SERIES_UID"] for r in rows}) == run.result.metrics["rows_written.image_occurrence"]
    assert occ.where(F.col("image_study_uid").startswith("2.25.")).count() == occ.count()
    m = run.result.metrics
    assert m["rows_read.imaging_studies"] == len(rows) == m["rows_loaded.imaging_studies"] + m["rows_filtered.imaging_studies"]


def test_imaging_rows_of_unknown_patients_or_encounters_are_quarantined(spark, warehouse):
    outcome = warehouse.outcomes["synthea-csv"]
    m = outcome.result.metrics
    assert (m["rows_read.imaging_studies"], m["rows_loaded.imaging_studies"], m["rows_quarantined.imaging_studies"]) == (
        1 + len(IMAGING_PLANTED), 1, len(IMAGING_PLANTED))
    catalog = Catalog(warehouse.settings.warehouse)
    q = read_table(spark, catalog, "mlhops.quarantine").where(
        (F.col("source") == "synthea-csv") & (F.col("source_table") == "imaging_studies"))
    got = {(r["source_file"], r["source_line"], r["field"], r["reason"]) for r in q.collect()}
    # Line 1 is the header, line 2 the real row.
    assert got == {("imaging_studies.csv", 3 + i, field, reason) for i, (_, field, reason) in enumerate(IMAGING_PLANTED)}
    assert q.where(F.col("file_sha256").isNull()).count() == 0
    # The real study's series is an image_occurrence; the planted ones are not.
    salt = resolve_salt(warehouse.settings)
    [real] = data_rows(warehouse.inputs["synthea-csv"] / "imaging_studies.csv")[:1]
    uids = {r[0] for r in read_table(spark, catalog, "omop.image_occurrence").select("image_series_uid").collect()}
    assert _series_uid(salt, real["SERIES_UID"]) in uids
    assert not {_series_uid(salt, f"{real['SERIES_UID']}.90{i}") for i in range(1, len(IMAGING_PLANTED) + 1)} & uids
