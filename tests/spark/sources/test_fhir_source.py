"""FHIR R4: the Synthea population that exists both as CSV and as FHIR (synthea_ma115) lands as
the same OMOP persons and the same facts; per-table counts agree and every difference is listed
below with its explanation, each one asserted.

The CSV side is the session's ETL run of the whole CSV export (``ma115``). The FHIR side loads
every bundle of the export into a warehouse that holds the CSV run's identity registry
(``mlhops.id_map``), as one warehouse fed by both forms would, but none of its OMOP rows, so
each side's tables hold only its own rows. Three bundles and ``csv/observations.csv`` are not in
the data set (``MISSING_FILES.txt``: files of 4 MiB or more), so the comparison covers the 112
patients present in both forms.

Differences (each asserted below):
* measurement, observation: Observation resources exist only in FHIR (observations.csv missing);
* drug_exposure: MedicationAdministration has no CSV file; medications.csv rows repeating their
  natural key are one fact in CSV (no row id), one MedicationRequest each in FHIR; a CSV row
  ending before it starts is quarantined, its MedicationRequest (no end) loads;
* device_exposure: supplies.csv rows repeating their natural key, as for medications;
* drug_era: MedicationRequest has no end, so every prescription is a one-day exposure;
* provider: providers.csv is the whole registry, the FHIR export holds the referenced ones;
* payer_plan_period: payer history is only in payer_transitions.csv (no Coverage resource);
* location: residences of the patients without a bundle; the same residence is another row
  (patients.csv has the county, FHIR Patient.address none), so person.location_id differs;
* visit_concept_id of urgent-care visits (FHIR class AMB); visit, procedure and image ids
  (the exports give encounters and studies other ids); image_study_uid (no study UID in CSV);
* dates of conditions and deaths: the CSV writes the local date, FHIR the instant (UTC here).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from collections import Counter
from dataclasses import dataclass
from functools import reduce
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.config.secrets import resolve_salt
from mlhops.hashing import KeyedHasher
from mlhops.etl import eras
from mlhops.etl.batch import LoadResult
from mlhops.etl.loader import load_batch
from mlhops.etl.mapping import map_events
from mlhops.etl.sources import fhir
from mlhops.etl.sources.fhir_resources import parse_file
from mlhops.etl.vocabulary import Vocabulary, load_vocabulary
from mlhops.io import Catalog, read_table, table_exists
from mlhops.io.tables.etl import ID_MAP
from tests.conftest import shared_path
from tests.spark.etl.conftest import SHIFT_DAYS, EtlRun, data_rows, etl_env

RUN_ID = "run-fhir-115"
# Every OMOP table the two loads write (image_feature: neither form has image features).
TABLES = [
    "person", "observation_period", "visit_occurrence", "visit_detail", "condition_occurrence", "drug_exposure",
    "procedure_occurrence", "measurement", "observation", "device_exposure", "death", "location", "care_site",
    "provider", "payer_plan_period", "cost", "condition_era", "drug_era", "image_occurrence", "image_feature",
]
# Resource types without an OMOP row of their own, and why (the loader's filtered reasons).
NO_TARGET = {"CarePlan", "CareTeam", "Claim", "DiagnosticReport", "DocumentReference", "ExplanationOfBenefit", "Provenance"}
REFERENCE_ONLY = {"Location", "Medication", "PractitionerRole"}


def _bundle_patient(path: Path | str) -> str:
    """Synthea names bundles ``<given>_<family>_<patient id>.json[.gz]``."""
    return Path(path).name.split(".json")[0].rsplit("_", 1)[-1]


def _missing() -> list[str]:
    return [line.strip() for line in shared_path("synthea_ma115", "MISSING_FILES.txt").read_text().splitlines()
            if line.strip().startswith(("csv/", "fhir/"))]


@dataclass(frozen=True)
class Forms:
    spark: SparkSession
    csv: EtlRun
    csv_catalog: Catalog
    fhir_catalog: Catalog
    fhir: LoadResult
    rows_read: dict[str, int]  # FHIR resources read per type
    by_source: dict[tuple[str, str], int]  # FHIR (OMOP table, resource type) -> facts routed there
    persons: list[int]  # person_id of the patients present in both forms
    vocab: Vocabulary

    def table(self, side: str, name: str) -> DataFrame | None:
        """An OMOP table of one side; person-linked tables only for the patients of both forms."""
        catalog = self.csv_catalog if side == "csv" else self.fhir_catalog
        if not table_exists(self.spark, catalog, f"omop.{name}"):
            return None
        df = read_table(self.spark, catalog, f"omop.{name}")
        return df.where(F.col("person_id").isin(self.persons)) if "person_id" in df.columns else df

    def counts(self, side: str) -> dict[str, int]:
        """Rows of every table in :data:`TABLES` (0 when not written), in one Spark job."""
        frames = [df.select(F.lit(t).alias("t")) for t in TABLES if (df := self.table(side, t)) is not None]
        got = {r["t"]: r["count"] for r in reduce(DataFrame.unionByName, frames).groupBy("t").count().collect()}
        return {t: got.get(t, 0) for t in TABLES}


@pytest.fixture(scope="module")
def forms(spark, ma115, settings_factory) -> Forms:
    settings = settings_factory(deid={"date_shift_max_days": SHIFT_DAYS})
    csv_catalog, fhir_catalog = Catalog(ma115.settings.warehouse), Catalog(settings.warehouse)
    shutil.copytree(csv_catalog.path(ID_MAP), fhir_catalog.path(ID_MAP))
    env = etl_env(spark, settings)
    batch = fhir.extract(spark, env, str(shared_path("synthea_ma115", "fhir_r4")))
    vocab = load_vocabulary(spark, settings.etl.vocabulary_dir)
    routed = map_events(batch.events, vocab).groupBy("target_table", "source_table").count().collect()
    loaded = load_batch(spark, env, batch, RUN_ID, vocab)
    persons = [r["person_id"] for r in read_table(spark, fhir_catalog, "omop.person").select("person_id").collect()]
    return Forms(
        spark=spark, csv=ma115, csv_catalog=csv_catalog, fhir_catalog=fhir_catalog, fhir=loaded,
        rows_read=batch.rows_read, by_source={(r["target_table"], r["source_table"]): r["count"] for r in routed},
        persons=persons, vocab=vocab,
    )


@pytest.fixture(scope="module")
def patients() -> set[str]:
    """Ids of the patients present in both forms (those with a bundle)."""
    return {_bundle_patient(p) for p in shared_path("synthea_ma115", "fhir_r4").glob("*.json*") if "Information" not in p.name}


def _rows(forms: Forms, name: str, patients: set[str]) -> list[dict[str, str]]:
    return [r for r in data_rows(forms.csv.input_dir / f"{name}.csv") if r["PATIENT"] in patients]


def _repeated_keys(rows: list[dict[str, str]], key: tuple[str, ...]) -> int:
    """Rows that repeat an earlier row's (PATIENT, ENCOUNTER, date, CODE): the CSV files have no
    row id, so the ETL loads such rows once (filtered as duplicates of the natural key)."""
    return len(rows) - len({tuple(r[k] for k in key) for r in rows})


def _when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_the_patients_of_both_forms_are_the_csv_patients_less_the_missing_bundles(forms, patients):
    csv_patients = {r["Id"] for r in data_rows(forms.csv.input_dir / "patients.csv")}
    missing = _missing()
    assert patients < csv_patients
    assert csv_patients - patients == {_bundle_patient(m) for m in missing if m.startswith("fhir/")}
    assert len(patients) == len(forms.persons) == forms.rows_read["Patient"]
    # ... and observations exist only in FHIR: csv/observations.csv is one of the missing files.
    assert "csv/observations.csv" in missing and not (forms.csv.input_dir / "observations.csv").exists()


def test_the_same_patient_lands_as_the_same_omop_person(spark, forms):
    # The FHIR run found every patient in the identity registry: it assigned no person id.
    new_ids = read_table(spark, forms.fhir_catalog, ID_MAP).where(
        (F.col("kind") == "person") & (F.col("run_id") == RUN_ID)).count()
    assert new_ids == 0
    cols = [c for c in forms.table("csv", "person").columns if c != "location_id"]
    csv_rows = {tuple(r) for r in forms.table("csv", "person").select(*cols).collect()}
    fhir_rows = {tuple(r) for r in forms.table("fhir", "person").select(*cols).collect()}
    assert fhir_rows == csv_rows and len(fhir_rows) == len(forms.persons)
    # Difference: location_id. The residence is the same place (USPS state, 3-digit ZIP), but
    # patients.csv has its county and Synthea's FHIR Patient.address none (no district), so it is
    # another location row. Safe Harbor keeps neither city nor county on either side.
    def residences(side: str) -> set[tuple]:
        loc = forms.table(side, "location")
        return {tuple(r) for r in forms.table(side, "person").join(loc, "location_id")
                .select("person_id", "state", "zip", "city", "county", "latitude", "longitude").collect()}

    csv_res, fhir_res = residences("csv"), residences("fhir")
    assert {r[:3] for r in csv_res} == {r[:3] for r in fhir_res} and csv_res
    assert all(r[3:] == (None, None, None, None) and (r[2] is None or len(r[2]) == 3) for r in csv_res | fhir_res)


def test_the_same_encounters_arrive_under_other_ids_and_the_same_visits_result(forms):
    cols = ["person_id", "visit_start_datetime", "visit_end_datetime", "care_site_id", "provider_id"]
    csv_v, fhir_v = forms.table("csv", "visit_occurrence"), forms.table("fhir", "visit_occurrence")
    assert Counter(tuple(r) for r in csv_v.select(*cols).collect()) == Counter(tuple(r) for r in fhir_v.select(*cols).collect())
    # The two exports gave every encounter another id: no visit is the same OMOP row.
    ids = [{r[0] for r in v.select("visit_occurrence_id").collect()} for v in (csv_v, fhir_v)]
    assert not ids[0] & ids[1]
    # Difference: visit_concept_id of urgent care. FHIR Encounter.class (v3 ActCode) has no
    # urgent-care class (Synthea writes AMB): those visits are outpatient visits in FHIR.
    std = forms.csv.settings.etl.standard_concepts["visit"]
    as_fhir = F.when(F.col("visit_source_value") == "urgentcare", F.lit(std["ambulatory"])).otherwise(F.col("visit_concept_id"))
    key = ["person_id", "visit_start_datetime", "visit_end_datetime"]
    assert csv_v.where(F.col("visit_source_value") == "urgentcare").count() > 0
    assert (Counter(tuple(r) for r in csv_v.select(*key, as_fhir).collect())
            == Counter(tuple(r) for r in fhir_v.select(*key, "visit_concept_id").collect()))


def _residences_of_missing_patients_only(forms: Forms) -> int:
    everyone = read_table(forms.spark, forms.csv_catalog, "omop.person")
    missing = everyone.where(~F.col("person_id").isin(forms.persons)).select("location_id")
    shared = forms.table("csv", "person").select("location_id")
    return missing.join(shared, "location_id", "left_anti").distinct().count()


def test_per_table_counts_agree_and_every_difference_is_explained(forms, patients):
    csv_counts, fhir_counts = forms.counts("csv"), forms.counts("fhir")
    counts = {t: (csv_counts[t], fhir_counts[t]) for t in TABLES}
    meds = _rows(forms, "medications", patients)
    ended_before_start = [r for r in meds if r["STOP"] and _when(r["STOP"]) < _when(r["START"])]
    kept_meds = [r for r in meds if r not in ended_before_start]
    csv_drugs = forms.table("csv", "drug_exposure")
    one_day = csv_drugs.withColumn("drug_exposure_end_date", F.col("drug_exposure_start_date")).withColumn(
        "days_supply", F.lit(None).cast("int"))
    explained = {
        # Observation resources: csv/observations.csv is missing, so these facts exist only in FHIR.
        "measurement": forms.by_source[("measurement", "Observation")],
        "observation": forms.by_source[("observation", "Observation")],
        # MedicationAdministration (doses given in hospital) has no CSV file; medications.csv rows
        # repeating (PATIENT, ENCOUNTER, START, CODE) are one fact in CSV and one MedicationRequest
        # each in FHIR; a medications row whose STOP precedes its START is quarantined, while its
        # MedicationRequest (which has no end) loads.
        "drug_exposure": forms.by_source[("drug_exposure", "MedicationAdministration")]
        + _repeated_keys(kept_meds, ("PATIENT", "ENCOUNTER", "START", "CODE")) + len(ended_before_start),
        # supplies.csv rows repeating (PATIENT, ENCOUNTER, DATE, CODE): one fact in CSV, one
        # SupplyDelivery each in FHIR.
        "device_exposure": _repeated_keys(_rows(forms, "supplies", patients), ("PATIENT", "ENCOUNTER", "DATE", "CODE"))
        + _repeated_keys(_rows(forms, "devices", patients), ("PATIENT", "ENCOUNTER", "START", "CODE")),
        # providers.csv is the whole provider registry; the FHIR practitioner bundle holds the
        # practitioners the exported encounters reference.
        "provider": forms.rows_read["Practitioner"] - len(data_rows(forms.csv.input_dir / "providers.csv")),
        # Payer history is in payer_transitions.csv only: the bundles carry no Coverage resource.
        "payer_plan_period": -len(_rows(forms, "payer_transitions", patients)),
        # MedicationRequest carries no end (medications.csv has STOP): every prescription is a
        # one-day exposure, so the eras split; the CSV exposures with their end at their start
        # give exactly the FHIR eras.
        "drug_era": eras.drug_eras(one_day, forms.vocab).count() - counts["drug_era"][0],
        # Locations: the residences of only the patients without a bundle are CSV rows only (the
        # others are as many rows on each side; see the person test for their county).
        "location": -_residences_of_missing_patients_only(forms),
    }
    assert "Coverage" not in forms.rows_read
    differences = {t: f - c for t, (c, f) in counts.items() if f != c}
    assert differences == {t: n for t, n in explained.items() if n}, counts
    # Nothing was compared on empty tables by accident.
    assert all(c > 0 for t, (c, _) in counts.items() if t not in ("cost", "image_feature"))
    # The FHIR providers are CSV providers: the same practitioners, with the same ids.
    ids = [{r[0] for r in forms.table(s, "provider").select("provider_id").collect()} for s in ("csv", "fhir")]
    assert ids[1] < ids[0]


def test_facts_recorded_in_both_forms_are_the_same_facts(forms):
    def bag(side: str, table: str, cols: list[str]) -> Counter:
        return Counter(tuple(r) for r in forms.table(side, table).select(*cols).collect())

    proc = ["person_id", "procedure_concept_id", "procedure_source_value", "procedure_datetime"]
    assert bag("csv", "procedure_occurrence", proc) == bag("fhir", "procedure_occurrence", proc)
    meas = ["person_id", "measurement_concept_id", "measurement_source_value", "measurement_datetime"]
    assert not bag("csv", "measurement", meas) - bag("fhir", "measurement", meas)  # FHIR adds Observations
    drug = ["person_id", "drug_concept_id", "drug_source_value", "drug_exposure_start_datetime", "drug_type_concept_id"]
    assert not bag("csv", "drug_exposure", drug) - bag("fhir", "drug_exposure", drug)  # FHIR adds the above
    # Difference: dates of conditions and deaths. conditions.csv / patients.csv write a date only,
    # the local (Massachusetts) calendar date; FHIR writes the local time with its offset, which
    # the ETL keeps as the UTC instant. Facts recorded in the evening fall on the next UTC day.
    for table, cols, date in (
        ("condition_occurrence", ["person_id", "condition_concept_id", "condition_source_value"], "condition_start_date"),
        ("death", ["person_id"], "death_date"),
    ):
        dates: dict[str, dict[tuple, list]] = {}
        for side in ("csv", "fhir"):
            for r in forms.table(side, table).select(*cols, date).collect():
                dates.setdefault(side, {}).setdefault(tuple(r[:-1]), []).append(r[-1])
        assert dates["csv"].keys() == dates["fhir"].keys(), table
        lags = Counter((f - c).days for k in dates["csv"] for c, f in zip(sorted(dates["csv"][k]), sorted(dates["fhir"][k]), strict=True))
        assert set(lags) <= {0, 1} and lags[0] > lags[1] > 0, (table, lags)


def test_the_same_imaging_series_is_the_same_image_occurrence(forms, patients):
    same = ["image_occurrence_id", "person_id", "image_series_uid", "image_occurrence_date", "modality_concept_id",
            "anatomic_site_concept_id"]
    csv_occ, fhir_occ = forms.table("csv", "image_occurrence"), forms.table("fhir", "image_occurrence")
    assert {tuple(r) for r in csv_occ.select(*same).collect()} == {tuple(r) for r in fhir_occ.select(*same).collect()}
    assert fhir_occ.count() == forms.by_source[("procedure_occurrence", "ImagingStudy")] == len(
        _rows(forms, "imaging_studies", patients)) > 0
    # Difference: the study UID. imaging_studies.csv has none (the study is its row Id), the
    # ImagingStudy its DICOM Study Instance UID; both are salted 2.25 UIDs.
    studies = [{r[0] for r in o.select("image_study_uid").collect()} for o in (csv_occ, fhir_occ)]
    assert not studies[0] & studies[1] and all(u.startswith("2.25.") for s in studies for u in s)
    # Each links to the imaging procedure and visit of its own load (their ids follow the
    # export's study and encounter ids, which differ between the forms).
    for side, occ in (("csv", csv_occ), ("fhir", fhir_occ)):
        proc = forms.table(side, "procedure_occurrence")
        linked = occ.join(proc, ["procedure_occurrence_id", "person_id", "visit_occurrence_id"]).where(
            F.col("image_occurrence_date") == F.col("procedure_date"))
        assert linked.count() == occ.count(), side


def test_every_resource_is_loaded_filtered_or_quarantined(forms):
    cons = forms.fhir.conservation
    assert cons is not None and cons.balanced
    tables = cons.tables
    assert {t: a.read for t, a in tables.items() if t != "fhir_files"} == {
        t: n for t, n in forms.rows_read.items() if t != "fhir_files"}
    assert tables["fhir_files"].read == len(list(shared_path("synthea_ma115", "fhir_r4").glob("*.json*")))
    assert all(a.quarantined == 0 for a in tables.values())
    filtered = {t for t, a in tables.items() if a.filtered_total}
    assert filtered == NO_TARGET | REFERENCE_ONLY | {"fhir_files"}
    assert all(a.filtered_total == a.read and a.loaded == 0 for t, a in tables.items() if t in filtered)
    assert all(a.loaded == a.read for t, a in tables.items() if t not in filtered)


def test_each_file_is_read_once_and_its_lineage_is_its_content_hash(spark, tmp_path):
    content = b'{"resourceType":"Patient","id":"p1","birthDate":"1980-02-03","gender":"female"}\n'
    (tmp_path / "a.ndjson").write_bytes(content)
    records = fhir.read_records(spark, str(tmp_path)).localCheckpoint(eager=True)
    [f] = fhir.input_files(records)
    sha = hashlib.sha256(content).hexdigest()
    assert (f.name, f.size, f.sha256) == (f"fhir-{sha[:fhir.FILE_NAME_HEX]}", len(content), sha)
    assert f.path.endswith("/a.ndjson")
    assert {r["source_file"] for r in records.collect()} == {f.name}


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
    assert {(r["source_table"], r["quantity"]) for r in recs if r["kind"] == "seen"} == {
        ("fhir_files", 1.0), ("Observation", 1.0), ("Patient", 1.0)}
    assert parse_file(b"\x00not json")[1]["reason"].startswith("unusable file: not FHIR JSON")


def test_parser_resolves_references_its_file_declares_and_reads_imaging_series():
    uid = "1.2.840.99999999.1.1"

    def entry(url: str, res: dict) -> dict:
        return {"fullUrl": url, "resource": res}

    bundle = {"resourceType": "Bundle", "entry": [
        entry("urn:uuid:p1", {"resourceType": "Patient", "id": "p1", "birthDate": "1980-02-03", "extension": [{
            "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
            "extension": [{"url": "ombCategory", "valueCoding": {"code": "2054-5"}},
                          {"url": "text", "valueString": "Black or African American"}]}]}),
        entry("urn:uuid:o1", {"resourceType": "Organization", "id": "o1", "identifier": [{"value": "org-1"}]}),
        entry("urn:uuid:e1", {"resourceType": "Encounter", "id": "e1", "subject": {"reference": "urn:uuid:p1"},
                              "class": {"code": "AMB"}, "period": {"start": "2020-01-01T10:00:00Z"},
                              "serviceProvider": {"reference": "Organization?identifier=x|org-1"},
                              "participant": [{"individual": {"reference": "Practitioner?identifier=x|npi-9"}}]}),
        entry("urn:uuid:s1", {"resourceType": "ImagingStudy", "id": "s1", "subject": {"reference": "urn:uuid:p1"},
                              "encounter": {"reference": "urn:uuid:e1"}, "started": "2020-01-01T10:05:00Z",
                              "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{uid}"}],
                              "procedureCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "399208008"}]}],
                              "series": [{"uid": f"{uid}.1", "modality": {"code": "DX"},
                                          "bodySite": {"system": "http://snomed.info/sct", "code": "51185008"}}]}),
        entry("urn:uuid:s2", {"resourceType": "ImagingStudy", "id": "s2", "subject": {"reference": "urn:uuid:p1"},
                              "started": "2020-01-01T10:05:00Z", "series": [{"modality": {"code": "DX"}}]}),
    ]}
    recs = parse_file(json.dumps(bundle).encode())
    [visit] = [r for r in recs if r["kind"] == "visit"]
    # In-file references resolve to ids; the practitioner lives in another bundle: alias kept.
    assert (visit["person_ref"], visit["care_site_ref"], visit["provider_ref"]) == ("p1", "o1", "ident:Practitioner|npi-9")
    assert [r["race"] for r in recs if r["kind"] == "person"] == ["black"]
    [study] = [r for r in recs if r["kind"] == "event" and r["source_table"] == "ImagingStudy"]
    assert (study["key"], study["person_ref"], study["visit_ref"], study["code"]) == ("ImagingStudy/s1", "p1", "e1", "399208008")
    [series] = [r for r in recs if r["kind"] == "image_series"]
    assert (series["key"], series["name"], series["study_uid"], series["code"], series["body_site"], series["start"]) == (
        f"{uid}.1", "ImagingStudy/s1", uid, "DX", "51185008", "2020-01-01T10:05:00Z")
    # A series without its UID cannot become an image: the study is rejected, not loaded in part.
    assert [(r["field"], r["reason"]) for r in recs if r["kind"] == "reject"] == [("series.uid", "missing required value")]
    assert {(r["source_table"], r["quantity"]) for r in recs if r["kind"] == "seen"} >= {("ImagingStudy", 2.0)}
    # Aliases are kept only for what other files may reference: urn fullUrls, identifiers.
    assert "ident:Organization|org-1" in {r["name"] for r in recs if r["kind"] == "alias"}


def test_pseudonymised_series_uids_are_the_dicom_ones(forms, patients):
    # The same salted 2.25 UID as a DICOM file of that series would get (dicom_omop.pseudo_uid).
    salt = resolve_salt(forms.csv.settings)
    rows = _rows(forms, "imaging_studies", patients)
    hasher = KeyedHasher(salt)
    expected = {"2.25." + str(int(hasher.hash_value("dicom-series", r["SERIES_UID"])[:16], 16)) for r in rows}
    got = {r[0] for r in forms.table("fhir", "image_occurrence").select("image_series_uid").collect()}
    assert got == expected and rows
