"""Existing OMOP CDM exports (v5.4 and a v5.3-shaped variant) load as conformant v5.4 tables."""

from __future__ import annotations

import csv
import shutil

import pytest

from mlhops.etl.sources import omop_cdm
from mlhops.io import Catalog, read_table
from mlhops.omop import schema as cdm
from tests.conftest import shared_path
from tests.spark.etl.conftest import etl_env, run_etl

# A few tables with all their rows: a required-heavy one (person), one renamed in v5.3
# (visit_occurrence), one without a primary key (death), one empty (location), one with
# identifier columns to drop (provider) and cdm_source (a new required column in v5.4).
V54_TABLES = ["PERSON.csv", "VISIT_OCCURRENCE.csv", "CDM_SOURCE.csv", "PROVIDER.csv", "LOCATION.csv", "DEATH.csv"]
V53_TABLES = ["PERSON.csv", "VISIT_OCCURRENCE.csv", "CDM_SOURCE.csv", "PROVIDER.csv"]


@pytest.fixture(scope="module")
def v54_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cdm54")
    for name in V54_TABLES:
        shutil.copy(shared_path("omop_synthea27nj_cdm54", name), d / name)
    return d


@pytest.fixture(scope="module")
def v53_dir(tmp_path_factory):
    """The same export shaped as v5.3: lower-case file names, v5.3 column names, no v5.4-only
    columns, a table v5.4 dropped, and one person row with an unparseable birth year."""
    d = tmp_path_factory.mktemp("cdm53")
    renames = {v: k for k, v in omop_cdm.RENAMED_COLUMNS["visit_occurrence"].items()}
    for name in V53_TABLES:
        with open(shared_path("omop_synthea27nj_cdm54", name), newline="") as fh:
            rows = list(csv.reader(fh))
        header = rows[0]
        if name == "VISIT_OCCURRENCE.csv":
            header = [renames.get(c, c).upper() for c in header]
        keep = list(range(len(header)))
        if name == "CDM_SOURCE.csv":
            keep = [i for i, c in enumerate(header) if c != "cdm_version_concept_id"]
        if name == "PERSON.csv":
            rows[1][header.index("year_of_birth")] = "nineteen-eighty"
        with open(d / name.lower(), "w", newline="") as fh:
            w = csv.writer(fh)
            for r in [header, *rows[1:]]:
                w.writerow([r[i] for i in keep])
    (d / "attribute_definition.csv").write_text("attribute_definition_id,attribute_name\n1,a\n2,b\n")
    return d


@pytest.fixture(scope="module")
def v53_export(spark, settings, v53_dir):
    return omop_cdm.read_export(spark, etl_env(spark, settings).deid, str(v53_dir))


@pytest.fixture(scope="module")
def loaded(spark, settings_factory, v53_dir):
    """The v5.3 export through the ``etl`` stage twice (same warehouse)."""
    settings = settings_factory()
    first = run_etl(spark, settings, v53_dir, "omop-1", source="omop")
    second = run_etl(spark, settings, v53_dir, "omop-2", source="omop")
    return settings, first, second


def test_v54_export_is_conformant_and_every_row_accounted_for(spark, settings, v54_dir):
    export = omop_cdm.read_export(spark, etl_env(spark, settings).deid, str(v54_dir))
    assert export.version == "5.4"
    counts = {}
    for table, frame in export.tables.items():
        assert frame.schema == cdm.schema(table), table  # names, order, types and NOT NULL
        required_nulls = " OR ".join(f"`{c}` IS NULL" for c in cdm.required_columns(table))
        row = frame.selectExpr("count(1) AS n", f"count_if({required_nulls}) AS bad").first()
        assert row["bad"] == 0, table
        counts[table] = row["n"]
    assert counts == export.rows_read == {
        "person": 28, "visit_occurrence": 1791, "cdm_source": 1, "provider": 67, "location": 0, "death": 3,
    }
    assert export.rejects.count() == 0


def test_v53_export_is_upgraded_and_bad_rows_quarantined(v53_export):
    assert v53_export.version == "5.3"
    visits = v53_export.tables["visit_occurrence"]
    assert "admitted_from_concept_id" in visits.columns and "admitting_source_concept_id" not in visits.columns
    src = v53_export.tables["cdm_source"].first()
    assert src["cdm_version_concept_id"] == omop_cdm.CDM_V54_VERSION_CONCEPT_ID
    rej = v53_export.rejects.collect()
    assert [(r["source_table"], r["field"], r["source_line"], r["reason"]) for r in rej] == [
        ("person", "year_of_birth", 2, "unparseable or out-of-range integer")
    ]
    assert [r["reason"] for r in v53_export.filtered.collect()] == ["table removed in CDM v5.4"] * 2


def test_etl_stage_loads_the_export_with_every_row_accounted_for(loaded):
    _, first, _ = loaded
    m = first.metrics
    assert first.status == "ok" and first.details["layout"] == "omop-cdm-5.3"
    assert (m["rows_read.person"], m["rows_loaded.person"], m["rows_quarantined.person"]) == (28, 27, 1)
    assert (m["rows_read.attribute_definition"], m["rows_filtered.attribute_definition"]) == (2, 2)
    for table in ("person", "visit_occurrence", "cdm_source", "provider", "attribute_definition"):
        assert m[f"rows_read.{table}"] == (
            m[f"rows_loaded.{table}"] + m[f"rows_quarantined.{table}"] + m[f"rows_filtered.{table}"]
        ), table
    assert {"omop.person", "omop.visit_occurrence", "mlhops.quarantine"} <= set(first.tables)


def test_loaded_tables_are_pseudonymised_and_a_rerun_changes_nothing(spark, loaded, v53_dir):
    settings, first, second = loaded
    catalog = Catalog(settings.warehouse)
    with open(v53_dir / "person.csv", newline="") as fh:
        source_values = {r["person_source_value"] for r in csv.DictReader(fh)}
    person = read_table(spark, catalog, "omop.person")
    assert source_values and not source_values & {r["person_source_value"] for r in person.collect()}
    assert read_table(spark, catalog, "omop.provider").where("provider_name IS NOT NULL OR npi IS NOT NULL").count() == 0
    assert second.metrics["rows_loaded.visit_occurrence"] == first.metrics["rows_loaded.visit_occurrence"] == 1791
    assert read_table(spark, catalog, "omop.visit_occurrence").count() == 1791
    assert person.count() == 27
    q = read_table(spark, catalog, "mlhops.quarantine").where("source = 'omop'")
    assert q.count() == 1  # the same bad row, recorded once across both runs
