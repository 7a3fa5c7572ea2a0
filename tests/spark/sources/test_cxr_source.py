"""``mlhops etl --source cxr-metadata``: a slice of the real ChestX-ray14 Data_Entry_2017 table
into persons, imaging procedures, acquisition measurements, MI-CDM imaging tables and findings,
every CSV row accounted for and planted bad rows quarantined with file, line and field."""

from __future__ import annotations

import pandas as pd
import pytest
from pyspark.sql import functions as F

from mlhops.etl.sources import cxr
from mlhops.etl.steps import safe_harbor
from mlhops.io import Catalog, read_table
from mlhops.omop import mi_cdm
from tests.spark.sources.conftest import CXR_PLANTED, CXR_ROWS

# DICOM tags: the measurement codes of the acquisition parameters (dicom_omop.PARAMETERS).
ROWS, COLUMNS, PIXEL_SPACING, VIEW_POSITION = "00280010", "00280011", "00280030", "00185101"


@pytest.fixture(scope="module")
def cxr_run(spark, warehouse):
    outcome = warehouse.outcomes["cxr-metadata"]
    assert outcome.status in ("ok", "alerts"), outcome.message
    real = pd.read_csv(warehouse.cxr_file, nrows=CXR_ROWS, usecols=range(7), header=0,
                       names=[*cxr._NAMES[:7]], dtype=str)
    catalog = Catalog(warehouse.settings.warehouse)
    return outcome.result, real, catalog


def test_every_row_is_an_image_a_quarantined_row_or_a_duplicate(spark, cxr_run):
    result, real, catalog = cxr_run
    m = result.metrics
    read = CXR_ROWS + len(CXR_PLANTED) + 1  # + one duplicate of the first row
    assert m["rows_read.cxr_images"] == read
    assert m["rows_loaded.cxr_images"] == CXR_ROWS
    assert m["rows_quarantined.cxr_images"] == len(CXR_PLANTED)
    assert m["rows_filtered.cxr_images"] == 1
    assert result.details["filtered"]["cxr_images"] == {cxr.FILTER_DUPLICATE: 1}
    with_findings = int((real["finding_labels"] != cxr.NO_FINDING).sum())
    assert m["rows_read.cxr_findings"] == m["rows_loaded.cxr_findings"] == with_findings
    # Only the Data_Entry file was read; the BBox list in the same folder was skipped.
    assert [f["name"] for f in result.details["input_files"]] == ["Data_Entry_2017_slice.csv"]


def test_planted_bad_rows_are_quarantined_with_file_line_and_field(spark, cxr_run):
    _, _, catalog = cxr_run
    q = read_table(spark, catalog, "mlhops.quarantine").where(F.col("source") == cxr.SOURCE).toPandas()
    assert len(q) == len(CXR_PLANTED)
    assert set(q["source_file"]) == {"Data_Entry_2017_slice.csv"} and q["file_sha256"].notna().all()
    got = {int(r.source_line): (r.field, r.reason) for r in q.itertuples()}
    for i, (_, field, reason) in enumerate(CXR_PLANTED):
        line = CXR_ROWS + 2 + i  # header is line 1
        assert got[line][0] == field and got[line][1].startswith(reason), line
    # Reasons name the field, never the value.
    assert not q["reason"].str.contains("abc|412").any()


def test_imaging_tables_conform_to_the_mi_cdm_definition(spark, cxr_run):
    result, real, catalog = cxr_run
    for table in mi_cdm.MI_TABLES:
        df = read_table(spark, catalog, f"omop.{table}")
        assert [(f.name, f.dataType) for f in df.schema.fields] == [(f.name, f.dataType) for f in mi_cdm.schema(table).fields]
    assert result.metrics["rows_written.image_occurrence"] == CXR_ROWS
    occ = read_table(spark, catalog, "omop.image_occurrence")
    feat = read_table(spark, catalog, "omop.image_feature")
    meas = read_table(spark, catalog, "omop.measurement")
    linked = (feat.join(occ.select("image_occurrence_id", "modality_concept_id"), "image_occurrence_id")
              .join(meas, feat["image_feature_event_id"] == meas["measurement_id"])
              .where(F.col("measurement_source_value").isin(ROWS, COLUMNS, PIXEL_SPACING, VIEW_POSITION))
              .groupBy("measurement_source_value").agg(F.count(F.lit(1)).alias("n"),
                                                       F.collect_set("value_source_value").alias("v")).collect())
    by = {r["measurement_source_value"]: r for r in linked}
    # Every real row has size, spacing and view position: one feature of each per image
    # (the DICOM files loaded into the same warehouse add their own).
    assert by[VIEW_POSITION]["n"] >= CXR_ROWS and {"PA", "AP"} <= set(by[VIEW_POSITION]["v"])
    assert by[ROWS]["n"] >= CXR_ROWS


def test_findings_map_to_standard_concepts_where_the_vocabulary_has_them(spark, cxr_run):
    result, real, catalog = cxr_run
    labels = real["finding_labels"].str.split("|").explode()
    labels = labels[labels != cxr.NO_FINDING]
    cond = read_table(spark, catalog, "omop.condition_occurrence").where(F.col("condition_source_value") == "233604007")
    obs = read_table(spark, catalog, "omop.observation")
    # Pneumonia (SNOMED 233604007) has a standard Condition concept in the shipped vocabulary.
    assert cond.count() == int((labels == "Pneumonia").sum()) > 0
    assert {r[0] for r in cond.select("condition_concept_id").distinct().collect()} == {255848}
    # Infiltration has no SNOMED code here: concept 0, the label kept as source value.
    inf = obs.where(F.col("observation_source_value") == "Infiltration")
    assert inf.count() == int((labels == "Infiltration").sum()) > 0
    assert {r[0] for r in inf.select("observation_concept_id").distinct().collect()} == {0}
    rates = result.details["mapping"]
    assert rates[cxr.FINDING_VOCABULARY]["rate"] == 0.0
    assert rates[cxr.FINDING_VOCABULARY]["events"] + rates["SNOMED"]["events"] >= len(labels)


def test_persons_have_an_approximate_birth_year_from_age_and_sex(spark, cxr_run):
    _, real, catalog = cxr_run
    real = real.assign(age=real["age"].astype(int))
    expected = sorted((cxr.REFERENCE_YEAR - real.groupby("patient")["age"].max()).tolist())
    person = read_table(spark, catalog, "omop.person")
    occ = read_table(spark, catalog, "omop.image_occurrence")
    cxr_persons = person.join(
        occ.join(read_table(spark, catalog, "omop.procedure_occurrence").where(F.col("procedure_source_value") == cxr.MODALITY)
                 .select("procedure_occurrence_id"), "procedure_occurrence_id").select("person_id").distinct(), "person_id",
    ).toPandas()
    got = sorted(cxr_persons["year_of_birth"].tolist())
    assert len(got) == real["patient"].nunique()
    # Safe Harbor groups ages over 89 at the batch's latest date: such a person reads as 90 then.
    latest = read_table(spark, catalog, "omop.observation_period").join(
        cxr_persons[["person_id"]].pipe(spark.createDataFrame), "person_id",
    ).agg(F.max("observation_period_end_date")).first()[0]
    oldest = latest.year - safe_harbor.TOP_CODED_AGE
    # 1 January of the year, then shifted by up to 30 days: the same or the year before
    # (grouped: the year that makes the person 90 at the latest date, or one less).
    assert all(max(e - 1, oldest - 1) <= g <= max(e, oldest) for g, e in zip(got, expected, strict=True))
    assert set(cxr_persons["gender_concept_id"]) <= {8507, 8532}
