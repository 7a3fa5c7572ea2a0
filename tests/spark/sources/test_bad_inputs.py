"""Nothing is lost on bad input: every source's run over the bad-input corpus
(tests/data/bad_inputs, see its README) finishes, quarantines each bad record with its file,
line (or entry index) or field and a reason, loads the good records and balances; what cannot
be loaded safely at all fails before anything is written, with an error naming file and column.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import pytest

from mlhops.errors import DataQualityError, SchemaError
from mlhops.etl.sources import cxr, fhir, fhir_resources, synthea
from mlhops.etl.sources.synthea_layout import SyntheaLayoutError
from mlhops.io import Catalog, read_table
from tests.conftest import REPO
from tests.spark.etl.conftest import run_etl

CORPUS = REPO / "tests" / "data" / "bad_inputs"


@pytest.fixture(scope="module")
def runs(spark, settings_factory):
    """One ETL run per source over its corpus folder, all into one warehouse."""
    settings = settings_factory()
    results = {
        source: run_etl(spark, settings, CORPUS / folder, f"bad-{source}", source=source)
        for source, folder in (("synthea-csv", "synthea_csv"), ("fhir", "fhir"), ("dicom", "dicom"),
                               ("cxr-metadata", "cxr"))
    }
    quarantine = read_table(spark, Catalog(settings.warehouse), "mlhops.quarantine").collect()
    return results, quarantine


def _quarantined(quarantine, source: str) -> set[tuple]:
    return {(r["source_table"], r["source_file"], r["source_line"], r["field"], r["reason"])
            for r in quarantine if r["source"] == source}


def _assert_balanced(result) -> None:
    m = result.metrics
    tables = {k.split(".", 1)[1] for k in m if k.startswith("rows_read.")}
    assert tables
    for t in tables:
        assert m[f"rows_read.{t}"] == m[f"rows_loaded.{t}"] + m[f"rows_quarantined.{t}"] + m[f"rows_filtered.{t}"], t


def _lineage(name: str) -> str:
    return fhir.lineage_name(hashlib.sha256((CORPUS / "fhir" / name).read_bytes()).hexdigest())


def test_fhir_bad_entries_lines_and_files_are_quarantined_and_the_rest_loads(runs):
    results, quarantine = runs
    result = results["fhir"]
    bundle, bulk, array = _lineage("bundle.json"), _lineage("bulk.ndjson"), _lineage("array.json")
    unusable = {(r[1], r[4]) for r in _quarantined(quarantine, "fhir") if r[0] == fhir_resources.FILE_TABLE}
    assert unusable == {
        (_lineage("deep.json.gz"), "unusable file: JSON nested deeper than the parser allows"),
        (_lineage("corrupt.json.gz"), "unusable file: corrupt gzip (BadGzipFile)"),
        (_lineage("empty.json"), fhir.EMPTY_FILE),
    }
    records = {r for r in _quarantined(quarantine, "fhir") if r[0] != fhir_resources.FILE_TABLE}
    assert records == {
        ("Observation", bundle, 5, "component[1].code", fhir_resources.UNCODED_COMPONENT),
        ("Organization", bundle, 7, "identifier", "malformed resource: expected a JSON array"),
        ("Unknown", bundle, 8, None, fhir_resources.NOT_A_RESOURCE),
        ("Unknown", bulk, 2, None, fhir_resources.NOT_A_RESOURCE),
        ("Unknown", bulk, 3, None, "not JSON (JSONDecodeError)"),
        ("Unknown", array, 2, None, fhir_resources.NOT_A_RESOURCE),
    }
    m = result.metrics
    # Three patients (bundle, NDJSON, array); both conditions (one with identifier: 5, not read);
    # the coded panel's two components and the open-range observation.
    assert (m["rows_loaded.Patient"], m["rows_loaded.Condition"], m["rows_loaded.Observation"]) == (3, 2, 2)
    assert result.details["filtered"]["fhir_files"] == {
        fhir_resources.EXPANDED: 3, fhir.DUPLICATE_FILE: 1, fhir.NOT_READ: 1}
    _assert_balanced(result)


def test_the_same_bundle_under_two_paths_is_read_once(runs):
    results, _ = runs
    m = results["fhir"].metrics
    # Eight files (the copy and the text file among them), each resource of the bundle counted once.
    assert m["rows_read.fhir_files"] == 8 and m["rows_read.Encounter"] == 1
    names = [f["name"] for f in results["fhir"].details["input_files"]]
    assert _lineage("bundle.json") + "-copy2" in names


def test_synthea_bad_rows_are_quarantined_and_unknown_files_reported(runs):
    results, quarantine = runs
    result = results["synthea-csv"]
    n_conditions = sum(1 for _ in open(CORPUS / "synthea_csv" / "conditions.csv", encoding="utf-8"))
    n_observations = sum(1 for _ in open(CORPUS / "synthea_csv" / "observations.csv", encoding="utf-8"))
    assert _quarantined(quarantine, "synthea-csv") == {
        ("conditions", "conditions.csv", n_conditions - 1, "START", "unparseable timestamp"),
        ("conditions", "conditions.csv", n_conditions, None, "malformed row: field count differs from header"),
        ("observations", "observations.csv", n_observations, "VALUE", "unparseable number"),
    }
    assert result.metrics["rows_loaded.patients"] == 1
    assert result.metrics["rows_loaded.conditions"] == n_conditions - 3
    assert result.details["filtered"][synthea.UNREAD_FILES] == {synthea.NOT_A_TABLE: 1}
    _assert_balanced(result)


def test_cxr_out_of_range_and_garbled_numbers_are_quarantined_not_a_job_failure(runs):
    results, quarantine = runs
    result = results["cxr-metadata"]
    size = f"out of range: not a whole number of pixels in 1-{cxr.MAX_IMAGE_PIXELS}"
    spacing = f"out of range: pixel spacing not in (0, {cxr.MAX_PIXEL_SPACING_MM:g}] mm"
    name = "Data_Entry_2017_bad.csv"
    assert _quarantined(quarantine, "cxr-metadata") == {
        ("cxr_images", name, 12, "width", size),        # 1e10
        ("cxr_images", name, 13, "height", size),       # NaN
        ("cxr_images", name, 14, "spacing_x", spacing),  # -0.1
        ("cxr_images", name, 15, "width", size),        # Infinity
        ("cxr_images", name, 16, "width", size),        # 2500.5
        ("cxr_images", name, 17, "age", "unparseable integer"),  # 1e10 years
    }
    assert result.metrics["rows_loaded.cxr_images"] == 10
    _assert_balanced(result)


def test_dicom_truncated_empty_and_non_dicom_files_are_quarantined_and_the_run_goes_on(runs):
    results, quarantine = runs
    result = results["dicom"]
    bad = {(r[1], r[2]) for r in _quarantined(quarantine, "dicom")}
    assert {f for f, _ in bad} == {"empty.dcm", "not_dicom.dcm", "truncated.dcm"}
    reasons = {r[1]: r[4] for r in _quarantined(quarantine, "dicom")}
    assert reasons["truncated.dcm"].startswith("truncated: element")
    assert result.metrics["rows_loaded.dicom_files"] == 1
    _assert_balanced(result)


@pytest.fixture
def export(tmp_path) -> Path:
    dst = tmp_path / "csv"
    shutil.copytree(CORPUS / "synthea_csv", dst)
    return dst


def test_a_table_in_two_files_is_refused_naming_both(spark, settings_factory, export):
    (export / "patients.csv.gz").write_bytes(gzip.compress((export / "patients.csv").read_bytes()))
    with pytest.raises(DataQualityError, match=r"patients in patients\.csv and patients\.csv\.gz"):
        run_etl(spark, settings_factory(), export, "bad-twice")


def test_a_semicolon_separated_file_fails_naming_the_file_and_the_delimiter(spark, settings_factory, export):
    path = export / "encounters.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(",", ";"), encoding="utf-8")
    with pytest.raises(SchemaError, match=r"encounters\.csv: the header is one column with semicolon"):
        run_etl(spark, settings_factory(), export, "bad-semicolon")


def test_a_missing_or_repeated_column_fails_naming_file_and_column(spark, settings_factory, export):
    path = export / "encounters.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text(lines[0].replace(",PATIENT,", ",PATIENT_ID,") + "".join(lines[1:]), encoding="utf-8")
    with pytest.raises(SyntheaLayoutError, match=r"encounters\.csv: required column PATIENT missing"):
        run_etl(spark, settings_factory(), export, "bad-missing")
    path.write_text(lines[0].replace(",PATIENT,", ",Id,") + "".join(lines[1:]), encoding="utf-8")
    with pytest.raises(SchemaError, match=r"encounters\.csv: column Id appears twice"):
        run_etl(spark, settings_factory(), export, "bad-repeated")


def test_an_export_without_data_rows_is_an_error_not_ok(spark, settings_factory, export):
    for f in export.glob("*.csv"):
        f.write_text(f.read_text(encoding="utf-8").splitlines(keepends=True)[0], encoding="utf-8")
    with pytest.raises(DataQualityError, match="no data rows"):
        run_etl(spark, settings_factory(), export, "bad-empty")


def test_a_fhir_folder_without_fhir_files_is_an_error_not_ok(spark, settings_factory, tmp_path):
    (tmp_path / "notes.txt").write_text("not FHIR\n", encoding="utf-8")
    with pytest.raises(DataQualityError, match="no FHIR resources"):
        run_etl(spark, settings_factory(), tmp_path, "bad-fhir-empty", source="fhir")


def test_a_chestxray_file_with_a_missing_column_fails_naming_it(spark, settings_factory, tmp_path):
    lines = (CORPUS / "cxr" / "Data_Entry_2017_bad.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "Data_Entry_2017.csv").write_text(lines[0].replace("Patient Age,", ""), encoding="utf-8")
    with pytest.raises(SchemaError, match=r"Data_Entry_2017\.csv: column Patient Age missing"):
        run_etl(spark, settings_factory(), tmp_path, "bad-cxr-column", source="cxr-metadata")
