"""Existing OMOP CDM exports (v5.4 and a v5.3-shaped variant) load as conformant v5.4 tables."""

from __future__ import annotations

import csv
import shutil

import pytest

from mlhops.etl.sources import omop_cdm
from mlhops.etl.sources.omop_cdm_ids import resolve_export
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


def test_v54_export_is_conformant_and_every_row_accounted_for(spark, settings, v54_dir, tmp_path):
    export = omop_cdm.read_export(spark, etl_env(spark, settings).deid, str(v54_dir))
    assert export.version == "5.4"
    tables, unconformed = resolve_export(spark, Catalog(str(tmp_path)), export.tables, "resolve-1")
    assert unconformed.count() == 0
    counts = {}
    for table, frame in tables.items():
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


# Tables with a person and dates; the shared export has rows in each.
SHIFTED_TABLES = ["PERSON.csv", "VISIT_OCCURRENCE.csv", "CONDITION_OCCURRENCE.csv", "OBSERVATION_PERIOD.csv", "DEATH.csv"]


def test_with_date_shifting_each_persons_dates_move_by_one_offset_in_every_table(spark, settings_factory, tmp_path):
    from pyspark.sql import functions as F

    for name in SHIFTED_TABLES:
        shutil.copy(shared_path("omop_synthea27nj_cdm54", name), tmp_path / name)
    exact = omop_cdm.read_export(spark, etl_env(spark, settings_factory()).deid, str(tmp_path))
    shifted = omop_cdm.read_export(
        spark, etl_env(spark, settings_factory(deid={"date_shift_max_days": 30})).deid, str(tmp_path))
    offsets = []  # (person key hash, table.column, days moved)
    for table, frame in exact.tables.items():
        dates = [f.name for f in cdm.fields(table) if f.spark_type.simpleString() in ("date", "timestamp")]
        if "person_id" not in frame.columns or not dates:
            continue
        pair = frame.alias("a").join(shifted.tables[table].alias("b"), "source_line")
        for c in dates:
            moved = F.datediff(F.to_date(F.col(f"b.{c}")), F.to_date(F.col(f"a.{c}")))
            offsets += [(r[0], f"{table}.{c}", r[1]) for r in pair.where(F.col(f"a.{c}").isNotNull())
                        .select(F.col("b._idkey_person_id.key_hash"), moved).collect()]
    assert {t.split(".")[0] for _, t, _ in offsets} >= {"person", "visit_occurrence", "condition_occurrence",
                                                         "observation_period", "death"}
    by_person: dict[str, set[int]] = {}
    for person, _, days in offsets:
        by_person.setdefault(person, set()).add(days)
    # One offset per person across all its tables and columns, within the configured bound,
    # and not the same for everybody.
    assert all(len(days) == 1 for days in by_person.values()), "a person's dates moved apart"
    moves = [next(iter(d)) for d in by_person.values()]
    assert all(-30 <= m <= 30 for m in moves) and len(set(moves)) > 1
    # The year of birth follows the shifted birth date.
    births = (exact.tables["person"].alias("a").join(shifted.tables["person"].alias("b"), "source_line")
              .select("a.year_of_birth", "b.year_of_birth", F.year("b.birth_datetime")).collect())
    assert births and all(b == y for _, b, y in births) and all(abs(a - b) <= 1 for a, b, _ in births)
