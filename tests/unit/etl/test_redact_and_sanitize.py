"""Free-text redaction and input-derived label sanitising (no Spark)."""

from __future__ import annotations

import json

import pytest

from mlhops.etl.redact import REDACTED, own_tokens, redact_text
from mlhops.etl.sanitize import safe_file_name, safe_label
from mlhops.etl.sources.fhir_resources import UNKNOWN_TYPE, parse_file, resource_type


@pytest.mark.parametrize("text, expected", [
    ("Lives at 123 Main Street, Apt 4B", f"Lives at {REDACTED}"),
    ("46 Cherry Rd. since March", f"{REDACTED} since March"),
    ("call (617) 555-0199 or 617.555.0199", f"call {REDACTED} or {REDACTED}"),
    ("write to jane.doe+x@mail.example.org", f"write to {REDACTED}"),
    ("seen 2020-01-02T10:00:00Z, again 03/04/2019 and Jan 5, 2020", f"seen {REDACTED}, again {REDACTED} and {REDACTED}"),
    ("MRN: A1234567 on file", f"{REDACTED} on file"),
    ("SSN 999-12-3456", f"SSN {REDACTED}"),
    ("account 123456789012", f"account {REDACTED}"),
])
def test_identifier_patterns_are_replaced_and_the_other_words_kept(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize("text", ["Never smoker", "Body mass index 30+ 40 kg/m2", "Glucose 5.4 mmol/L", "2 tablets"])
def test_clinical_text_without_identifiers_is_unchanged(text):
    assert redact_text(text) == text


def test_a_value_naming_its_own_patient_is_dropped_whole():
    own = own_tokens(["Zebulon", "Quixwright", "77 Quagmire Lane", None, "Li"], ["zeb@example.org", "8837261"])
    assert {"li", "lane", "77", "example"}.isdisjoint(own)
    assert {"zebulon", "quixwright", "quagmire", "zeb@example.org", "8837261"} <= set(own)
    assert redact_text("walked down the lane", own) == "walked down the lane"
    assert redact_text("Mr QUIXWRIGHT reports pain", own) is None
    assert redact_text("no tobacco", own) == "no tobacco"
    assert redact_text(None, own) is None


def test_labels_keep_a_safe_character_set_and_length_else_become_a_digest():
    assert safe_label("Observation") == "Observation" and safe_label("patients.csv") == "patients.csv"
    assert safe_label("SC_rgb_dcmtk_+eb+cr.dcm") == "SC_rgb_dcmtk_+eb+cr.dcm"
    assert safe_label("fhir-3a1234567b9c-copy2") == "fhir-3a1234567b9c-copy2"  # digits of a digest are no identifier
    for planted in ("Jane Doe", "doe@example.org", "scan_19800203.dcm", "x" * 65, "a/b", ""):
        out = safe_label(planted, prefix="file")
        assert out.startswith("file-") and planted not in out or planted == ""
    assert safe_label("Jane Doe") == safe_label("Jane Doe") != safe_label("Jane Do")
    assert safe_file_name("/data/Doe, Jane/ct 1.dcm").startswith("file-")
    assert safe_file_name("/data/Doe, Jane/CT_small.dcm") == "CT_small.dcm"


def test_a_planted_name_as_resource_type_reads_as_unknown():
    assert resource_type({"resourceType": "Quixwright"}) == UNKNOWN_TYPE
    assert resource_type({"resourceType": "Observation"}) == "Observation"
    recs = parse_file(json.dumps({"resourceType": "Quixwright", "id": "x"}).encode())
    assert {r["source_table"] for r in recs} == {"fhir_files", UNKNOWN_TYPE}


def test_fhir_free_text_is_redacted_and_dropped_where_it_names_the_files_patient():
    subject = {"reference": "Patient/p"}
    code = {"coding": [{"system": "http://loinc.org", "code": "72166-2"}]}
    bundle = {"resourceType": "Bundle", "entry": [{"resource": r} for r in [
        {"resourceType": "Patient", "id": "p", "birthDate": "1980-01-01", "name": [{"family": "Quixwright"}],
         "address": [{"line": ["77 Quagmire Lane"]}]},
        {"resourceType": "Observation", "id": "o1", "subject": subject, "code": code,
         "effectiveDateTime": "2020-01-01", "valueString": "Quixwright called"},
        {"resourceType": "Observation", "id": "o2", "subject": subject, "code": code,
         "effectiveDateTime": "2020-01-01", "valueCodeableConcept": {"text": "near Quagmire park"}},
        {"resourceType": "Observation", "id": "o3", "subject": subject, "code": code,
         "effectiveDateTime": "2020-01-01", "valueString": "phone 617-555-0199 daily"},
    ]]}
    values = {r["key"]: r["value_string"] for r in parse_file(json.dumps(bundle).encode()) if r["kind"] == "event"}
    assert values == {"Observation/o1": None, "Observation/o2": None, "Observation/o3": f"phone {REDACTED} daily"}
    assert "Quixwright" not in json.dumps(parse_file(json.dumps(bundle).encode()))


def test_input_file_names_in_the_run_record_are_safe_labels_like_the_quarantines():
    from mlhops.etl.files import InputFile
    from mlhops.etl.run import input_file_records

    files = [InputFile(path="/in/CT_small.dcm", name="CT_small.dcm", size=1, sha256="a"),
             InputFile(path="/in/DOE JOHN 19650312.dcm", name="DOE JOHN 19650312.dcm", size=2, sha256="b")]
    kept, named = input_file_records(files)
    assert kept == {"name": "CT_small.dcm", "size": 1, "sha256": "a"}
    assert "DOE" not in named["name"] and "1965" not in named["name"]
    assert named["name"] == safe_label("DOE JOHN 19650312.dcm", prefix="file")  # the quarantine's rule
