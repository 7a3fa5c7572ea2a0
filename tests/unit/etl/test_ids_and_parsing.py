"""Pure logic of the ETL on tiny inline data (no Spark): id blocks per kind, FHIR resource
records, CDM export file names, input folders."""

from __future__ import annotations

import gzip
import json

import pytest

from mlhops.config.model import EtlSettings
from mlhops.errors import ConfigError
from mlhops.etl.ids import _first_ranks
from mlhops.etl.inputs import input_paths
from mlhops.etl.sources.fhir_resources import REFERENCED, parse_file, resource_records
from mlhops.etl.sources.omop_cdm import table_of_file


def test_new_ids_of_each_kind_form_one_block_in_kind_order_even_when_one_kind_prefixes_another():
    # "visit|..." sorts after "visit_detail|..." ('|' > '_'), so visit_detail's block comes first.
    assert _first_ranks({"visit": 40, "visit_detail": 25, "person": 7}) == {"person": 0, "visit_detail": 7, "visit": 32}


def test_id_kinds_with_the_sort_separator_are_refused():
    with pytest.raises(ValueError):
        _first_ranks({"a|b": 1})


def test_a_patient_resource_gives_a_person_and_its_residence_without_street_or_name():
    patient = {
        "resourceType": "Patient", "id": "p1", "birthDate": "1980-02-03", "gender": "female",
        "name": [{"family": "Doe"}], "address": [{"line": ["1 Main St"], "city": "Boston", "state": "MA", "postalCode": "02118"}],
    }
    records = resource_records(patient, 1, "urn:uuid:p1")
    kinds = [r["kind"] for r in records]
    assert kinds == ["alias", "person", "location"]
    person = records[1]
    assert (person["key"], person["start"], person["gender"]) == ("p1", "1980-02-03", "F")
    assert records[2]["zip"] == "021" and "Main" not in json.dumps(records) and "Doe" not in json.dumps(records)


def test_an_observation_panel_gives_one_fact_per_component():
    panel = {
        "resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2020-01-01T00:00:00Z", "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "component": [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, "valueQuantity": {"value": 120, "code": "mm[Hg]"}},
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]}, "valueQuantity": {"value": 80, "code": "mm[Hg]"}},
        ],
    }
    facts = [r for r in resource_records(panel, 3, None) if r["kind"] == "event"]
    assert [(f["key"], f["code"], f["value_number"], f["default_domain"]) for f in facts] == [
        ("Observation/o1#0", "8480-6", 120.0, "Measurement"), ("Observation/o1#1", "8462-4", 80.0, "Measurement")]
    assert all(f["person_ref"] == "p1" and f["source_line"] == 3 for f in facts)


def test_resources_without_a_target_are_filtered_and_without_an_id_rejected():
    assert [r["reason"] for r in resource_records({"resourceType": "Location", "id": "l1"}, 1, None)] == [REFERENCED]
    assert resource_records({"resourceType": "CarePlan", "id": "c1"}, 1, None)[0]["kind"] == "filtered"
    assert resource_records({"resourceType": "Condition"}, 1, None)[0]["kind"] == "reject"


def test_a_bundle_file_counts_itself_and_its_resources_and_resolves_local_references():
    bundle = {"resourceType": "Bundle", "entry": [
        {"fullUrl": "urn:uuid:aaa", "resource": {"resourceType": "Patient", "id": "aaa", "birthDate": "1990-01-01"}},
        {"resource": {"resourceType": "Condition", "id": "c1", "subject": {"reference": "urn:uuid:aaa"},
                      "onsetDateTime": "2020-01-01", "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1"}]}}},
    ]}
    records = parse_file(gzip.compress(json.dumps(bundle).encode()))
    seen = {r["source_table"]: r["quantity"] for r in records if r["kind"] == "seen"}
    assert seen == {"fhir_files": 1.0, "Patient": 1.0, "Condition": 1.0}
    [event] = [r for r in records if r["kind"] == "event"]
    assert (event["person_ref"], event["vocabulary_id"], event["source_line"]) == ("aaa", "SNOMED", 2)
    assert parse_file(b"not json")[-1]["kind"] == "reject"


def test_cdm_export_files_are_recognised_in_any_case_and_known_suffix():
    assert table_of_file("PERSON.csv") == "person"
    assert table_of_file("visit_occurrence.TSV.gz") == "visit_occurrence"
    assert table_of_file("readme.md") is None


def test_the_input_folder_is_the_given_one_else_the_configured_one(tmp_path):
    etl = EtlSettings(inputs={"fhir": str(tmp_path)})
    assert input_paths(etl, "fhir", None) == [str(tmp_path)]
    assert input_paths(etl, "fhir", "s3://bucket/x") == ["s3://bucket/x"]
    with pytest.raises(ConfigError, match="etl.inputs.dicom"):
        input_paths(etl, "dicom", None)


def _outcomes(records: list[dict]) -> list[tuple]:
    return [(r["kind"], r["source_table"], r["source_line"], r["field"], r["reason"])
            for r in records if r["kind"] in ("reject", "seen")]


def test_ndjson_lines_that_are_not_resources_are_rejected_by_line_and_the_file_goes_on():
    data = b'{"resourceType":"Patient","id":"p1"}\n[]\n{"cut\n'
    assert _outcomes(parse_file(data, ndjson=True)) == [
        ("seen", "fhir_files", 0, None, None), ("seen", "Patient", 0, None, None), ("seen", "Unknown", 0, None, None),
        ("reject", "Unknown", 2, None, "not a FHIR resource (a JSON object with a resourceType)"),
        ("reject", "Unknown", 3, None, "not JSON (JSONDecodeError)"),
    ]


def test_unreadable_files_are_one_unusable_file_reject_whatever_the_damage():
    deep = b"[" * 20000 + b"]" * 20000
    cut_gzip = gzip.compress(b'{"resourceType":"Patient","id":"p1"}')[:15]
    for data, reason in [(deep, "JSON nested deeper"), (cut_gzip, "corrupt gzip"), (b"", "not FHIR JSON"),
                         (b"\xff\xfe{}", "not UTF-8"), (b'{"resourceType":"Bundle","entry":5}', "Bundle.entry")]:
        [seen, reject] = parse_file(data)
        assert seen["kind"] == "seen" and reject["kind"] == "reject" and reject["source_table"] == "fhir_files"
        assert reject["reason"].startswith("unusable file: ") and reason in reject["reason"], reject["reason"]


def test_unexpected_json_types_reject_the_resource_naming_the_element_never_crash():
    org = {"resourceType": "Organization", "id": "o1", "identifier": 5}
    assert [(r["kind"], r["field"]) for r in resource_records(org, 4, None)] == [("reject", "identifier")]
    odd = {"resourceType": "Patient", "id": "p1", "gender": 5, "birthDate": {"a": 1}}
    [person] = [r for r in resource_records(odd, 1, None) if r["kind"] == "person"]
    assert (person["gender"], person["start"]) == (None, None)  # left to the checks of those fields
    rng = {"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p1"},
           "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]}, "valueRange": {"low": None}}
    [event] = resource_records(rng, 1, None)
    assert (event["kind"], event["value_number"]) == ("event", None)
    assert resource_records({"resourceType": {"x": 1}, "id": "x"}, 1, None)[0]["source_table"] == "Unknown"


def test_a_panel_with_a_component_coded_by_text_only_is_rejected_whole():
    panel = {"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p1"},
             "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]}, "component": [
                 {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, "valueQuantity": {"value": 120}},
                 {"code": {"text": "Diastolic"}, "valueQuantity": {"value": 80}}]}
    assert [(r["kind"], r["field"]) for r in resource_records(panel, 2, None)] == [("reject", "component[1].code")]


def test_a_json_array_of_resources_is_read_entry_by_entry():
    data = json.dumps([{"resourceType": "Patient", "id": "p1"}, "Patient/x"]).encode()
    assert [r for r in _outcomes(parse_file(data)) if r[0] == "reject"] == [
        ("reject", "Unknown", 2, None, "not a FHIR resource (a JSON object with a resourceType)")]
