"""Rebuild the bad-input corpus next to this file from the shared data (run from the repo root:
``.venv/bin/python -m tests.data.bad_inputs.make_corpus``). README.md lists what each file plants."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from pathlib import Path

from tests.conftest import SHARED_DATA
from tests.spark.etl.conftest import write_subset

HERE = Path(__file__).resolve().parent
SHARED = SHARED_DATA
# The synthea27 patient with the fewest rows (46 over all files) that has conditions and observations.
SYNTHEA_PATIENT = "3edac2e3"
CXR_ROWS = 10
# Deeper than any JSON parser's default nesting limit (CPython's is the recursion limit, 1000).
DEEP_LEVELS = 20000


def _rewrite(path: Path, edit) -> None:  # noqa: ANN001
    """Replace a CSV file's data rows by ``edit(header, rows)``."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = edit(header, list(reader))
    with open(path, "w", newline="", encoding="utf-8") as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def _plant_conditions(header: list[str], rows: list[list[str]]) -> list[list[str]]:
    bad_date = list(rows[0])
    bad_date[0] = "2023-13-45"  # START: no such month
    return rows + [bad_date, rows[0][:2]]  # and a row with two fields only


def _plant_observations(header: list[str], rows: list[list[str]]) -> list[list[str]]:
    bad_value = list(rows[0])
    bad_value[header.index("VALUE")], bad_value[header.index("TYPE")] = "12,5 mg", "numeric"
    return rows + [bad_value]


def _synthea() -> None:
    src, dst = SHARED / "synthea27_csv", HERE / "synthea_csv"
    shutil.rmtree(dst, ignore_errors=True)
    with open(src / "patients.csv", newline="", encoding="utf-8") as fh:
        pid = next(r["Id"] for r in csv.DictReader(fh) if r["Id"].startswith(SYNTHEA_PATIENT))
    write_subset(src, dst, {pid})
    for name in ("organizations", "providers"):  # reference files: three rows are enough
        _rewrite(dst / f"{name}.csv", lambda header, rows: rows[:3])
    _rewrite(dst / "conditions.csv", _plant_conditions)
    _rewrite(dst / "observations.csv", _plant_observations)
    (dst / "README.txt").write_text("An export note a hospital left in the folder: not a table.\n", encoding="utf-8")


def _coding(system: str, code: str) -> dict:
    return {"coding": [{"system": system, "code": code}]}


LOINC, SNOMED = "http://loinc.org", "http://snomed.info/sct"


def _fhir() -> None:
    dst = HERE / "fhir"
    shutil.rmtree(dst, ignore_errors=True)
    (dst / "copy").mkdir(parents=True)
    subject, encounter = {"reference": "Patient/bad-p1"}, {"reference": "Encounter/bad-e1"}
    when = "2020-03-04T10:00:00Z"

    def bp(oid: str, diastolic_code: dict) -> dict:
        return {"resourceType": "Observation", "id": oid, "subject": subject, "encounter": encounter,
                "effectiveDateTime": when, "code": _coding(LOINC, "85354-9"), "component": [
                    {"code": _coding(LOINC, "8480-6"), "valueQuantity": {"value": 120, "code": "mm[Hg]"}},
                    {"code": diastolic_code, "valueQuantity": {"value": 80, "code": "mm[Hg]"}}]}

    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:bad-p1", "resource": {
            "resourceType": "Patient", "id": "bad-p1", "birthDate": "1970-01-01", "gender": "female",
            "address": [{"city": "Springfield", "state": "MA", "postalCode": "01101"}]}},
        {"resource": {"resourceType": "Encounter", "id": "bad-e1", "subject": subject, "class": {"code": "AMB"},
                      "period": {"start": when, "end": "2020-03-04T11:00:00Z"}}},
        {"resource": {"resourceType": "Condition", "id": "bad-c1", "subject": subject, "encounter": encounter,
                      "onsetDateTime": when, "code": _coding(SNOMED, "44054006")}},
        {"resource": bp("bad-bp-coded", _coding(LOINC, "8462-4"))},
        {"resource": bp("bad-bp-text", {"text": "Diastolic blood pressure"})},
        {"resource": {"resourceType": "Observation", "id": "bad-range", "subject": subject, "encounter": encounter,
                      "effectiveDateTime": when, "code": _coding(LOINC, "2339-0"),
                      "valueRange": {"low": None, "high": {"value": 5}}}},
        {"resource": {"resourceType": "Organization", "id": "bad-org", "identifier": 5, "name": "Clinic"}},
        5,
    ]}
    text = json.dumps(bundle, indent=1)
    (dst / "bundle.json").write_text(text, encoding="utf-8")
    (dst / "copy" / "same_bundle.json").write_text(text, encoding="utf-8")
    lines = [
        json.dumps({"resourceType": "Patient", "id": "bad-p2", "birthDate": "1980-05-06", "gender": "male"}),
        "[]",
        '{"resourceType": "Patient", "id": "bad-p9", "birthDate": ',
        "",
        json.dumps({"resourceType": "Condition", "id": "bad-c2", "identifier": 5, "subject": {"reference": "Patient/bad-p2"},
                    "onsetDateTime": when, "code": _coding(SNOMED, "44054006")}),
    ]
    (dst / "bulk.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    array = [{"resourceType": "Patient", "id": "bad-p3", "birthDate": "1990-07-08", "gender": "other"}, "Patient/x"]
    (dst / "array.json").write_text(json.dumps(array), encoding="utf-8")
    deep = "[" * DEEP_LEVELS + "]" * DEEP_LEVELS
    (dst / "deep.json.gz").write_bytes(gzip.compress(deep.encode(), mtime=0))
    good = gzip.compress(json.dumps(array[0]).encode(), mtime=0)
    (dst / "corrupt.json.gz").write_bytes(good[:12] + b"\x00" * 8 + good[20:])
    (dst / "empty.json").write_bytes(b"")
    (dst / "notes.txt").write_text("not FHIR\n", encoding="utf-8")


def _cxr() -> None:
    dst = HERE / "cxr"
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir()
    with gzip.open(SHARED / "nih_chestxray14_metadata" / "Data_Entry_2017_first40000rows.csv.gz", "rt",
                   encoding="utf-8", newline="") as fh:
        lines = [next(fh).rstrip("\r\n") for _ in range(CXR_ROWS + 1)]
    planted = [
        "99999998_000.png,Effusion,0,99999998,58,M,PA,1e10,2048,0.168,0.168",
        "99999998_001.png,Effusion,1,99999998,58,M,PA,2500,NaN,0.168,0.168",
        "99999998_002.png,Effusion,2,99999998,58,M,PA,2500,2048,-0.1,0.168",
        "99999998_003.png,Effusion,3,99999998,58,M,PA,Infinity,2048,0.168,0.168",
        "99999998_004.png,Effusion,4,99999998,58,M,PA,2500.5,2048,0.168,0.168",
        "99999998_005.png,Effusion,5,99999998,1e10,M,PA,2500,2048,0.168,0.168",
    ]
    (dst / "Data_Entry_2017_bad.csv").write_text("\n".join(lines + planted) + "\n", encoding="utf-8")


def _dicom() -> None:
    src, dst = SHARED / "dicom_pydicom_test_files", HERE / "dicom"
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir()
    shutil.copy(src / "SC_rgb_small_odd.dcm", dst / "SC_rgb_small_odd.dcm")
    data = (src / "SC_rgb_rle.dcm").read_bytes()
    (dst / "truncated.dcm").write_bytes(data[: len(data) // 2])
    (dst / "not_dicom.dcm").write_text("this is a text file, not DICOM\n", encoding="utf-8")
    (dst / "empty.dcm").write_bytes(b"")


if __name__ == "__main__":
    _synthea()
    _fhir()
    _cxr()
    _dicom()
