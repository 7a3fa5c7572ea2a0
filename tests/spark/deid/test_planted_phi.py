"""De-identified by default: a FHIR bundle and an OMOP CDM export carrying planted names,
addresses, phone numbers, emails, SSN- and MRN-like numbers (in free text, in a resourceType and
in a file name) load into one warehouse, and nothing planted survives in any Delta table, the
log, the stage results or MLflow; person and location rows of both sources are generalised as
HIPAA Safe Harbor requires (year of birth only, ages over 89 as 90, ZIP3 with the restricted
areas as 000, no city, county, coordinates or address)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlhops.omop import schema as cdm
from tests.support.phi import delta_tables, tables_with_hits

# Planted values: none may appear in any output.
NAME_GIVEN, NAME_FAMILY, CITY = "Zebulon", "Quixwright", "Quixburg"
STREET = "77 Quagmire Lane"
PHONE, EMAIL, SSN, MRN = "617-555-0199", "zeb.quix@example.org", "999-12-3456", "8837261"
# Identifiers in free text that are not the patient's own (only the patterns find them).
OTHER_PHONE, OTHER_EMAIL, OTHER_MRN = "212-555-0143", "front.desk@example.org", "4455667"
PLANTED = (NAME_GIVEN, NAME_FAMILY, CITY, "Quagmire", PHONE, EMAIL, SSN, MRN, "555-0199", OTHER_PHONE, OTHER_EMAIL,
           OTHER_MRN, "2024-04-30")
LATEST = "2024-05-01"


def _bundle() -> dict:
    def entry(res: dict) -> dict:
        return {"fullUrl": f"urn:uuid:{res['id']}", "resource": res}

    subject = {"reference": "urn:uuid:pq"}
    code = {"coding": [{"system": "http://loinc.org", "code": "72166-2"}]}
    return {"resourceType": "Bundle", "type": "collection", "entry": [
        entry({"resourceType": "Patient", "id": "pq", "birthDate": "1925-03-04", "gender": "male",
               "name": [{"family": NAME_FAMILY, "given": [NAME_GIVEN]}],
               "telecom": [{"system": "phone", "value": PHONE}, {"system": "email", "value": EMAIL}],
               "identifier": [{"system": "urn:mrn", "value": MRN}],
               "address": [{"line": [STREET], "city": CITY, "state": "NH", "postalCode": "03601"}]}),
        entry({"resourceType": "Encounter", "id": "eq", "subject": subject, "status": "finished",
               "class": {"code": "AMB"}, "period": {"start": f"{LATEST}T09:00:00Z", "end": f"{LATEST}T10:00:00Z"}}),
        # Free text naming the patient: dropped; free text with only patterns: redacted.
        entry({"resourceType": "Observation", "id": "o1", "subject": subject, "encounter": {"reference": "urn:uuid:eq"},
               "status": "final", "code": code, "effectiveDateTime": f"{LATEST}T09:30:00Z",
               "valueString": f"{NAME_GIVEN} {NAME_FAMILY} lives at {STREET}"}),
        entry({"resourceType": "Observation", "id": "o2", "subject": subject, "encounter": {"reference": "urn:uuid:eq"},
               "status": "final", "code": code, "effectiveDateTime": f"{LATEST}T09:40:00Z",
               "valueString": f"call {OTHER_PHONE} or {OTHER_EMAIL}, SSN {SSN}, MRN: {OTHER_MRN}, seen 2024-04-30"}),
        entry({"resourceType": "Observation", "id": "o3", "subject": subject, "encounter": {"reference": "urn:uuid:eq"},
               "status": "final", "code": code, "effectiveDateTime": f"{LATEST}T09:50:00Z",
               "valueCodeableConcept": {"text": f"Mrs {NAME_FAMILY} reports no tobacco"}}),
        # A planted name as a resource type: read as "Unknown", never as a table name.
        entry({"resourceType": NAME_FAMILY, "id": "x1"}),
    ]}


def _cdm_file(folder: Path, table: str, rows: list[dict]) -> None:
    names = [f.name for f in cdm.fields(table)]
    with open(folder / f"{table.upper()}.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        for r in rows:
            w.writerow([r.get(n, "") for n in names])


def _export(folder: Path) -> Path:
    folder.mkdir(parents=True)
    _cdm_file(folder, "location", [
        {"location_id": 1, "address_1": STREET, "city": CITY, "state": "NY", "zip": "10115-2001",
         "county": "Quixcounty", "latitude": 40.8, "longitude": -73.9, "location_source_value": STREET},
        {"location_id": 2, "city": CITY, "state": "WY", "zip": "82301"},
    ])
    _cdm_file(folder, "person", [
        {"person_id": 1, "gender_concept_id": 8507, "year_of_birth": 1920, "month_of_birth": 5, "day_of_birth": 6,
         "birth_datetime": "1920-05-06 00:00:00", "race_concept_id": 0, "ethnicity_concept_id": 0, "location_id": 1,
         "person_source_value": MRN},
        {"person_id": 2, "gender_concept_id": 8532, "year_of_birth": 1990, "month_of_birth": 7, "day_of_birth": 8,
         "race_concept_id": 0, "ethnicity_concept_id": 0, "location_id": 2},
    ])
    _cdm_file(folder, "observation", [
        {"observation_id": 1, "person_id": 1, "observation_concept_id": 0, "observation_date": "2023-01-01",
         "observation_type_concept_id": 32817, "value_as_string": f"Lives at {STREET}, tel {PHONE}",
         "qualifier_source_value": f"MRN {MRN}", "value_source_value": EMAIL},
    ])
    _cdm_file(folder, "note", [
        {"note_id": 1, "person_id": 1, "note_date": "2023-01-01", "note_type_concept_id": 32817,
         "note_class_concept_id": 0, "note_title": f"{NAME_FAMILY} visit",
         "note_text": f"{NAME_GIVEN} {NAME_FAMILY}, {STREET}, {PHONE}", "encoding_concept_id": 0,
         "language_concept_id": 0},
    ])
    return folder


@dataclass(frozen=True)
class Loaded:
    settings: object
    root: Path
    log: str
    results: str


@pytest.fixture(scope="module")
def loaded(spark, settings_factory, tmp_path_factory) -> Loaded:
    from mlhops.pipelines.context import Context
    from mlhops.pipelines.orchestrate import run_stage
    from tests.spark.etl.conftest import etl_request
    from tests.support.logs import captured_mlhops_log

    root = tmp_path_factory.mktemp("planted-inputs")
    (root / "fhir").mkdir()
    # The file name carries the planted name too (FHIR lineage names files by content hash).
    (root / "fhir" / f"{NAME_GIVEN}_{NAME_FAMILY}_{MRN}.json").write_text(json.dumps(_bundle()), encoding="utf-8")
    export = _export(root / "omop")
    settings = settings_factory()
    with captured_mlhops_log() as buf:
        ctx = Context.build(settings, spark)
        outcomes = [run_stage(ctx, "etl", etl_request(f"planted-{s}", s, p))
                    for s, p in (("fhir", root / "fhir"), ("omop", export))]
    results = json.dumps([{"details": o.result.details, "metrics": o.result.metrics} for o in outcomes if o.result],
                         default=str)
    return Loaded(settings, Path(settings.warehouse), buf.getvalue(), results)


def _table(spark, loaded: Loaded, name: str):
    return spark.read.format("delta").load(str(loaded.root / "omop" / name))


def _hits(text: str) -> list[str]:
    lowered = text.lower()
    return [p for p in PLANTED if p.lower() in lowered]


def test_nothing_planted_survives_in_any_delta_table(spark, loaded):
    tables = delta_tables(loaded.root)
    assert len(tables) >= 10
    assert tables_with_hits(spark, loaded.root, tables, _hits) == {}


def test_free_text_is_redacted_or_dropped_not_lost(spark, loaded):
    values = set()
    for name in ("observation", "measurement"):
        df = _table(spark, loaded, name)
        cols = [c for c in ("value_as_string", "value_source_value") if c in df.columns]
        values |= {r[c] for r in df.select(*cols).collect() for c in cols}
    # Values naming the patient are dropped; the others keep their words around the redactions.
    assert any(v and v.startswith("call [redacted] or [redacted], SSN [redacted]") for v in values), values
    assert "Lives at [redacted], tel [redacted]" in values
    notes = _table(spark, loaded, "note").collect() if (loaded.root / "omop" / "note").exists() else []
    assert all(r["note_text"] is None and r["note_title"] is None for r in notes)


def test_the_planted_resource_type_and_file_name_reach_no_record(loaded):
    assert '"Unknown"' in loaded.results and "fhir-" in loaded.results
    assert _hits(loaded.results) == [] and _hits(loaded.log) == []


def test_mlflow_holds_nothing_planted(loaded):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=loaded.settings.mlflow.tracking_uri)
    runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]
    assert runs
    text = json.dumps([{"params": r.data.params, "tags": r.data.tags, "metrics": list(r.data.metrics)} for r in runs])
    assert _hits(text) == []


def test_person_rows_keep_the_year_of_birth_only_and_group_ages_over_89(spark, loaded):
    rows = _table(spark, loaded, "person").collect()
    # FHIR: born 1925, 99 at 2024-05-01 -> reads as 90 then (1934). OMOP: born 1920, 102 at
    # 2023-01-01 -> 1933; born 1990 -> kept.
    assert sorted(r["year_of_birth"] for r in rows) == [1933, 1934, 1990]
    assert all(r["month_of_birth"] is None and r["day_of_birth"] is None and r["birth_datetime"] is None for r in rows)


def test_location_rows_keep_the_state_and_zip3_only(spark, loaded):
    rows = _table(spark, loaded, "location").collect()
    # 036 (NH) and 823 (WY) are restricted three-digit areas: 000; 101 (NY) is kept.
    assert sorted((r["state"], r["zip"]) for r in rows) == [("NH", "000"), ("NY", "101"), ("WY", "000")]
    assert all(r[c] is None for r in rows for c in ("address_1", "address_2", "city", "county", "latitude",
                                                    "longitude", "location_source_value"))
