"""FHIR R4: Synthea bundles parse on the executors into A's events, and the population that
exists both as CSV and as FHIR (synthea_ma115) maps to the same OMOP persons and facts."""

from __future__ import annotations

import shutil

import pytest
from pyspark.sql import functions as F

from mlhops.etl.mapping import map_events
from mlhops.etl.sources import fhir, synthea
from mlhops.etl.sources.fhir_resources import parse_file
from mlhops.omop.vocabulary import load_vocabulary
from tests.conftest import REPO, shared_path
from tests.spark.etl.conftest import write_subset

# Per-commit subset: the first patients' bundles (by file name) plus the two bundles of
# hospital and practitioner information their references resolve into.
PATIENTS = 6


@pytest.fixture(scope="module")
def both(spark, settings, tmp_path_factory):
    src = shared_path("synthea_ma115", "fhir_r4")
    bundles = sorted(p for p in src.glob("*.json.gz") if "Information" not in p.name)[:PATIENTS]
    fhir_dir = tmp_path_factory.mktemp("fhir")
    for p in [*bundles, *src.glob("*Information*.json.gz")]:
        shutil.copy(p, fhir_dir / p.name)
    ids = {p.name[: -len(".json.gz")].rsplit("_", 1)[-1] for p in bundles}
    csv_dir = write_subset(shared_path("synthea_ma115", "csv"), tmp_path_factory.mktemp("csv") / "csv", ids)
    vocab = load_vocabulary(spark, str(REPO / "data" / "vocabulary"))
    out = {}
    for name, batch in (("fhir", fhir.extract(spark, settings, str(fhir_dir))),
                        ("csv", synthea.extract(spark, settings, str(csv_dir)))):
        mapped = map_events(batch.events, vocab)
        counts = {r["target_table"]: r["n"] for r in mapped.groupBy("target_table").agg(F.count(F.lit(1)).alias("n")).collect()}
        by_source = {(r["target_table"], r["source_table"]): r["n"] for r in
                     mapped.groupBy("target_table", "source_table").agg(F.count(F.lit(1)).alias("n")).collect()}
        persons = {r["person_key"]: (str(r["birth_ts"])[:10], r["gender_source_value"]) for r in batch.persons.collect()}
        visits = {(r["person_key"], r["start_ts"]) for r in batch.visits.select("person_key", "start_ts").collect()}
        out[name] = (batch, counts, by_source, persons, visits)
    return ids, out


def test_the_same_patients_and_encounters_arrive_in_both_forms(both):
    ids, out = both
    _, _, _, fhir_persons, fhir_visits = out["fhir"]
    _, _, _, csv_persons, csv_visits = out["csv"]
    assert set(fhir_persons) == set(csv_persons) == ids
    assert fhir_persons == csv_persons  # same birth date and sex: the same OMOP person
    # This data set's two exports gave encounters different ids (none in common), so the
    # encounter is identified by patient and start instant (UTC): the same set in both forms.
    assert fhir_visits == csv_visits


def test_per_table_counts_agree_and_every_difference_is_explained(both):
    _, out = both
    _, fhir_counts, fhir_by, _, _ = out["fhir"]
    _, csv_counts, csv_by, _, _ = out["csv"]
    # Observations exist only in FHIR here (csv/observations.csv is missing from the data set).
    only_fhir = {k: n for k, n in fhir_by.items() if k[1] == "Observation"}
    assert sum(only_fhir.values()) > 0 and not any(k[1] == "observations" for k in csv_by)
    without_obs = {t: n - sum(v for (tt, _), v in only_fhir.items() if tt == t) for t, n in fhir_counts.items()}
    for table in ("condition_occurrence", "procedure_occurrence", "device_exposure"):
        assert without_obs.get(table, 0) == csv_counts.get(table, 0), table
    # Drugs: CSV medications.csv has one row per prescription and FHIR one MedicationRequest per
    # prescription plus MedicationAdministration for the doses given in hospital (no CSV file).
    admin = sum(n for (t, s), n in fhir_by.items() if s == "MedicationAdministration")
    assert without_obs.get("drug_exposure", 0) - admin == csv_counts.get("drug_exposure", 0)
    # Allergies go to observation in both forms.
    assert fhir_by.get(("observation", "AllergyIntolerance"), 0) == csv_by.get(("observation", "allergies"), 0)


def test_every_resource_is_loaded_filtered_or_rejected(both):
    _, out = both
    batch = out["fhir"][0]
    seen = batch.rows_read
    assert seen["fhir_files"] == PATIENTS + 2
    facts = (batch.events.select(*["source_table", "source_file", "source_line"]).distinct()
             .unionByName(batch.persons.select("source_table", "source_file", "source_line"))
             .unionByName(batch.visits.select("source_table", "source_file", "source_line"))
             .unionByName(batch.care_sites.select("source_table", "source_file", "source_line"))
             .unionByName(batch.providers.select("source_table", "source_file", "source_line"))
             .unionByName(batch.rejects.select("source_table", "source_file", "source_line"))
             .unionByName(batch.filtered.select("source_table", "source_file", "source_line")))
    counted = {r["source_table"]: r["count"] for r in facts.groupBy("source_table").count().collect()}
    assert counted == seen


def test_parser_reads_ndjson_and_panels_and_rejects_non_json():
    bp = ('{"resourceType":"Observation","id":"o1","subject":{"reference":"Patient/p1"},'
          '"effectiveDateTime":"2020-01-01T10:00:00+01:00","code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},'
          '"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":120,"code":"mm[Hg]"}},'
          '{"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":80,"code":"mm[Hg]"}}]}')
    recs = parse_file((bp + "\n" + '{"resourceType":"Patient","id":"p1","birthDate":"1980-02-03","gender":"female"}\n').encode())
    events = [r for r in recs if r["kind"] == "event"]
    assert [(e["code"], e["value_number"], e["unit"], e["person_ref"]) for e in events] == [
        ("8480-6", 120.0, "mm[Hg]", "p1"), ("8462-4", 80.0, "mm[Hg]", "p1")]
    assert [r["gender"] for r in recs if r["kind"] == "person"] == ["F"]
    assert parse_file(b"\x00not json")[1]["reason"].startswith("not FHIR JSON")
