"""PHI scan: after Synthea CSV, FHIR, DICOM and ChestX-ray14 loads into one warehouse, no
output (every Delta table's string columns, the captured log, the MLflow params, tags and
artifacts of the runs) contains a name, identifier, address or phone number of an input
patient, nor a free-text DICOM tag value."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from tests.spark.sources.conftest import LOADS
from tests.support.phi import delta_tables, tables_with_hits

MIN_LEN = 5  # shorter values (initials, "M", "1") are not distinctive enough to scan for
PATIENT_COLUMNS = ("Id", "SSN", "DRIVERS", "PASSPORT", "FIRST", "LAST", "MAIDEN", "ADDRESS", "PHONE")
DICOM_TAGS = (
    "PatientName", "OtherPatientNames", "PatientAddress", "PatientTelephoneNumbers", "OtherPatientIDs",
    "AccessionNumber", "InstitutionName", "InstitutionAddress", "ReferringPhysicianName",
    "PerformingPhysicianName", "OperatorsName", "PhysiciansOfRecord", "ImageComments", "StudyComments",
    "PatientComments", "AdditionalPatientHistory", "StudyID",
)


def _csv_phi(folder: Path) -> set[str]:
    with open(folder / "patients.csv", newline="", encoding="utf-8") as fh:
        return {r[c] for r in csv.DictReader(fh) for c in PATIENT_COLUMNS if r.get(c)}


def _fhir_phi(bundles: list[Path]) -> set[str]:
    out: set[str] = set()
    for b in bundles:
        doc = json.loads(gzip.decompress(b.read_bytes()))
        for e in doc.get("entry", []):
            r = e.get("resource", {})
            if r.get("resourceType") != "Patient":
                continue
            out.add(r["id"])
            for n in r.get("name", []):
                out.update([n.get("family", ""), *n.get("given", [])])
            out.update(t.get("value", "") for t in r.get("telecom", []))
            out.update(i.get("value", "") for i in r.get("identifier", []))
            for a in r.get("address", []):
                out.update(a.get("line", []))
    return out


# Attributes deliberately kept (not PHI); a free-text tag that repeats one of their values
# (InstitutionName "GE MEDICAL SYSTEMS" in a vendor test file) is not an identifier.
KEPT_TAGS = ("Manufacturer", "ManufacturerModelName")


def _dicom_phi(folder: Path) -> set[str]:
    import pydicom

    out: set[str] = set()
    kept: set[str] = set()
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True, force=True)
            kept.update(str(ds.get(tag)).strip() for tag in KEPT_TAGS if ds.get(tag) is not None)
            for tag in DICOM_TAGS:
                value = ds.get(tag)
                if value is not None:
                    out.update(str(v) for v in (value if isinstance(value, pydicom.multival.MultiValue) else [value]))
        except Exception:  # noqa: BLE001 - unreadable files carry nothing we could have loaded
            continue
    return {v for v in out if v.strip() not in kept}


def _cxr_phi(cxr_file: Path) -> set[str]:
    with open(cxr_file, encoding="utf-8") as fh:
        return {line.split(",", 1)[0] for line in list(fh)[1:] if line.strip()}  # image index embeds the patient id


@pytest.fixture(scope="module")
def phi(warehouse) -> list[str]:
    values = (_csv_phi(warehouse.inputs["synthea-csv"]) | _fhir_phi(warehouse.fhir_bundles)
              | _dicom_phi(warehouse.inputs["dicom"]) | _cxr_phi(warehouse.cxr_file))
    cleaned = {v.strip().strip("^").strip() for v in values}
    return sorted(v for v in cleaned if len(v) >= MIN_LEN)


def _hits(text: str, phi: list[str]) -> list[str]:
    return [v for v in phi if v in text]


def test_the_scan_list_holds_every_kind_of_identifier(phi, warehouse):
    # The scan can fail: it holds names, SSNs, licences, passports, addresses, phones, UIDs.
    csv_values = _csv_phi(warehouse.inputs["synthea-csv"])
    assert any(v.count("-") == 2 and v.replace("-", "").isdigit() for v in csv_values)  # SSN
    assert sum(1 for v in phi if v.startswith("S999")) > 0  # driver's licence numbers
    assert any("CompressedSamples" in v for v in phi)  # DICOM PatientName
    assert len(phi) > 50


def test_no_delta_table_holds_input_phi(spark, warehouse, phi):
    root = Path(warehouse.settings.warehouse)
    tables = delta_tables(root)
    assert len(tables) >= 20
    assert tables_with_hits(spark, root, tables, lambda text: _hits(text, phi)[:5]) == {}


def test_the_log_holds_no_input_phi(warehouse, phi):
    assert "etl" in warehouse.log and len(warehouse.log) > 1000
    assert _hits(warehouse.log, phi) == []


def test_mlflow_params_tags_and_artifacts_hold_no_input_phi(warehouse, phi):
    import mlflow

    settings = warehouse.settings
    client = mlflow.MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
    runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]
    ids = {o.result.details.get("source") for o in warehouse.outcomes.values() if o.result}
    assert ids == set(LOADS)
    assert len(runs) >= len(LOADS)
    text = [json.dumps({"params": r.data.params, "tags": r.data.tags, "metrics": list(r.data.metrics)}) for r in runs]
    root = Path(settings.mlflow.artifact_location.removeprefix("file://"))
    artifacts = [p for p in root.rglob("*") if p.is_file()]
    text += [p.read_text(encoding="utf-8", errors="replace") for p in artifacts]
    text += [str(p.relative_to(root)) for p in artifacts]
    assert _hits("\n".join(text), phi) == []
