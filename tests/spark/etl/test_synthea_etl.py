"""Synthea CSV (3.x and 2.x layouts) -> OMOP CDM v5.4, on the two shared populations."""

from __future__ import annotations

import csv
import re

import pytest
from pyspark.sql import functions as F

from mlhops.io import Catalog, read_table, table_exists
from tests.conftest import SHARED
from tests.spark.etl.conftest import SHIFT_DAYS, data_rows, run_etl, write_subset

SPEC = SHARED / "reference" / "omop_cdm_v5.4" / "OMOP_CDMv5.4_Field_Level.csv"
OMOP_TABLES = [
    "person", "observation_period", "visit_occurrence", "visit_detail", "condition_occurrence",
    "drug_exposure", "procedure_occurrence", "measurement", "observation", "device_exposure", "death",
    "location", "care_site", "provider", "payer_plan_period", "condition_era", "drug_era",
]
EVENT_TABLES = ["condition_occurrence", "drug_exposure", "procedure_occurrence", "measurement", "observation", "device_exposure"]
CLINICAL_FILES = ["conditions", "medications", "immunizations", "procedures", "observations", "allergies",
                  "devices", "supplies", "imaging_studies"]
SPEC_TYPES = {"integer": "int", "float": "double", "date": "date", "datetime": "timestamp"}


def table(spark, run, name):
    return read_table(spark, Catalog(run.settings.warehouse), f"omop.{name}")


def spec_schemas() -> dict[str, list[tuple[str, str, bool]]]:
    """(column, spark type, required) per table, parsed from the official spec file here."""
    out: dict[str, list[tuple[str, str, bool]]] = {}
    with open(SPEC, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            dtype = row["cdmDatatype"].strip().lower()
            spark_type = SPEC_TYPES.get(dtype, "string" if dtype.startswith("varchar") else dtype)
            out.setdefault(row["cdmTableName"].strip().lower(), []).append(
                (row["cdmFieldName"].strip().lower(), spark_type, row["isRequired"].strip() == "Yes")
            )
    return out


@pytest.fixture(params=["synthea27", "ma115"])
def run(request):
    return request.getfixturevalue(request.param)


def test_layout_is_detected_from_the_headers(synthea27, ma115):
    assert synthea27.result.details["layout"] == "synthea-3.x"
    assert ma115.result.details["layout"] == "synthea-2.x"


def _end_before_start(input_dir) -> set[tuple[str, int, str, str]]:
    import datetime as dt

    def when(v: str) -> dt.datetime:
        return dt.datetime.fromisoformat(v.replace("Z", "+00:00")) if "T" in v else dt.datetime.fromisoformat(v + "T00:00:00+00:00")

    out = set()
    for f in sorted(input_dir.glob("*.csv")):
        for line, r in enumerate(data_rows(f), start=2):
            if r.get("START") and r.get("STOP") and when(r["STOP"]) < when(r["START"]):
                out.add((f.name, line, "STOP", "impossible dates: end before start"))
    return out


def test_every_source_row_is_loaded_quarantined_or_filtered(spark, run):
    m = run.result.metrics
    for f in sorted(run.input_dir.glob("*.csv")):
        read = m[f"rows_read.{f.stem}"]
        assert read == len(data_rows(f)), f.stem
        assert read == (
            m[f"rows_loaded.{f.stem}"] + m[f"rows_quarantined.{f.stem}"] + m[f"rows_filtered.{f.stem}"]
        ), f.stem
    # what is quarantined is exactly the rows whose end precedes their start (the only defect
    # these exports have), each recorded once with file, line and field
    q = read_table(spark, Catalog(run.settings.warehouse), "mlhops.quarantine")
    got = {(r["source_file"], r["source_line"], r["field"], r["reason"]) for r in q.collect()}
    assert got == _end_before_start(run.input_dir)
    assert m["rows_quarantined"] == q.count()


def test_table_row_counts_follow_the_input(spark, run):
    files = {f.stem: data_rows(f) for f in run.input_dir.glob("*.csv")}
    count = {t: table(spark, run, t).count() for t in OMOP_TABLES}
    assert count["person"] == len(files["patients"])
    assert count["observation_period"] == len(files["patients"])
    assert count["death"] == sum(1 for r in files["patients"] if r["DEATHDATE"])
    assert count["visit_occurrence"] == len(files["encounters"]) == count["visit_detail"]
    assert count["provider"] == len(files["providers"])
    assert count["care_site"] == len(files["organizations"])
    assert count["payer_plan_period"] == len(files["payer_transitions"])
    if "claims" in files:
        assert table(spark, run, "cost").count() == len(files["claims"])
    m = run.result.metrics
    loaded_events = sum(m[f"rows_loaded.{t}"] for t in CLINICAL_FILES if f"rows_loaded.{t}" in m)
    assert sum(count[t] for t in EVENT_TABLES) == loaded_events
    assert loaded_events >= 0.95 * sum(len(files[t]) for t in CLINICAL_FILES if t in files)
    assert count["condition_era"] > 0 and count["drug_era"] > 0


def test_codes_map_to_standard_concepts_and_unmapped_codes_keep_their_source_value(spark, run, repo_vocabulary):
    rates = run.result.details["mapping"]
    assert {"SNOMED", "RxNorm"} <= set(rates)
    for vocab in ("SNOMED", "RxNorm"):
        assert rates[vocab]["rate"] >= 0.5, vocab
        assert run.result.metrics[f"mapping_rate.{vocab}"] == rates[vocab]["rate"]
    concept = spark.read.option("header", True).csv(str(repo_vocabulary / "CONCEPT.csv.gz"))
    standard = concept.where(F.col("standard_concept") == "S").select(F.col("concept_id").cast("int").alias("c"))
    cond = table(spark, run, "condition_occurrence")
    mapped = cond.where("condition_concept_id != 0").select(F.col("condition_concept_id").alias("c"))
    assert mapped.join(standard, "c", "left_anti").count() == 0
    assert cond.where("condition_source_value IS NULL").count() == 0
    drugs = table(spark, run, "drug_exposure")
    unmapped = drugs.where("drug_concept_id = 0")
    assert unmapped.where("drug_source_value IS NULL").count() == 0


def test_every_table_has_exactly_the_spec_columns_and_required_fields_are_never_null(spark, run):
    spec = spec_schemas()
    for name in OMOP_TABLES:
        df = table(spark, run, name)
        assert [(f.name, f.dataType.simpleString()) for f in df.schema.fields] == [
            (c, t) for c, t, _ in spec[name]
        ], name
        required = [c for c, _, req in spec[name] if req]
        nulls = df.agg(*[F.sum(F.col(c).isNull().cast("int")).alias(c) for c in required]).first()
        assert all((nulls[c] or 0) == 0 for c in required), name


def _identifiers(input_dir) -> set[str]:
    ids: set[str] = set()
    for row in data_rows(input_dir / "patients.csv"):
        for col in ("Id", "SSN", "DRIVERS", "PASSPORT", "FIRST", "LAST", "MAIDEN", "ADDRESS"):
            if row.get(col):
                ids.add(row[col])
    for name, cols in (("providers.csv", ("NAME", "ADDRESS")), ("organizations.csv", ("ADDRESS", "PHONE")),
                       ("payers.csv", ("ADDRESS", "PHONE")), ("encounters.csv", ("Id",)),
                       ("devices.csv", ("UDI",)), ("payer_transitions.csv", ("OWNERNAME", "MEMBERID"))):
        if (input_dir / name).exists():
            for row in data_rows(input_dir / name):
                ids.update(row[c] for c in cols if row.get(c))
    return {i for i in ids if len(i) >= 4}


def _trie_pattern(words: set[str]) -> str:
    """A regex matching exactly the ``words`` (as substrings), factored by common prefixes: a
    plain alternation makes Java's regex try every word at every position (minutes on ma115)."""
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        alts = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if "" in node:  # a word ends here: what follows is optional
            return f"(?:{body})?"
        return body

    return build(trie)


def test_no_identifier_of_the_input_reaches_any_output_table(spark, run):
    identifiers = _identifiers(run.input_dir)
    pattern = _trie_pattern(identifiers)
    assert all(re.search(pattern, f"x{i}y") for i in sorted(identifiers)[:50])  # the pattern finds them
    wh = Catalog(run.settings.warehouse)
    names = [f"omop.{t}" for t in OMOP_TABLES + ["cost"]] + ["mlhops.quarantine", "mlhops.id_map"]
    hits = {}
    for name in names:
        if not table_exists(spark, wh, name):
            continue
        df = read_table(spark, wh, name)
        text = F.concat_ws("\u0001", *[F.col(c).cast("string") for c in df.columns])
        hits[name] = df.where(text.rlike(pattern)).count()
    assert hits and all(n == 0 for n in hits.values()), hits


def test_dates_shift_by_one_amount_per_person_across_tables(spark, ma115):
    import datetime as dt

    from mlhops.config.secrets import resolve_salt
    from mlhops.etl.steps.safe_harbor import MAX_EXACT_AGE
    from mlhops.hashing import SOURCE_VALUE_HEX, KeyedHasher

    hasher = KeyedHasher(resolve_salt(ma115.settings))

    def pseudonym(patient_id: str) -> str:
        return hasher.hash_value("person", patient_id)[:SOURCE_VALUE_HEX]

    day = lambda s: dt.date.fromisoformat(s[:10])  # noqa: E731
    src = {pseudonym(r["Id"]): r for r in data_rows(ma115.input_dir / "patients.csv")}
    first_visit: dict[str, dt.date] = {}
    for r in data_rows(ma115.input_dir / "encounters.csv"):
        key = pseudonym(r["PATIENT"])
        first_visit[key] = min(first_visit.get(key, day(r["START"])), day(r["START"]))
    person = table(spark, ma115, "person").select("person_id", "person_source_value", "year_of_birth")
    death = table(spark, ma115, "death").select("person_id", "death_date")
    visits = table(spark, ma115, "visit_occurrence").groupBy("person_id").agg(F.min("visit_start_date").alias("v"))
    rows = person.join(death, "person_id", "left").join(visits, "person_id", "left").collect()
    latest = table(spark, ma115, "visit_occurrence").agg(F.max("visit_start_date")).first()[0]
    shifts = []
    for r in rows:
        s = src[r["person_source_value"]]
        shift = (r["v"] - first_visit[r["person_source_value"]]).days
        shifts.append(shift)
        assert abs(shift) <= SHIFT_DAYS
        if s["DEATHDATE"]:
            assert (r["death_date"] - day(s["DEATHDATE"])).days == shift
        # Only the (shifted) year of birth is kept; ages over 89 read as 90 (Safe Harbor).
        birth = day(s["BIRTHDATE"]) + dt.timedelta(days=shift)
        grouped = r["year_of_birth"] > birth.year and (latest - birth).days // 365 >= MAX_EXACT_AGE
        assert r["year_of_birth"] == birth.year or grouped
    assert len(rows) == len(src) and len(set(shifts)) > 1  # shifted, and not all by one amount


def _snapshot(spark, run) -> dict[str, list]:
    wh = Catalog(run.settings.warehouse)
    out = {}
    for name in [f"omop.{t}" for t in OMOP_TABLES + ["cost"]] + ["mlhops.id_map", "mlhops.quarantine"]:
        if table_exists(spark, wh, name):
            df = read_table(spark, wh, name)
            cols = [c for c in df.columns if c not in ("run_id", "recorded_at")]
            out[name] = sorted((tuple(r) for r in df.select(*cols).collect()), key=repr)
    return out


def test_running_again_on_the_same_input_leaves_every_table_identical(spark, synthea27):
    before = _snapshot(spark, synthea27)
    again = run_etl(spark, synthea27.settings, synthea27.input_dir, "run-27-again")
    assert again.metrics["rows_read"] == synthea27.result.metrics["rows_read"]
    assert _snapshot(spark, synthea27) == before


def test_a_second_extract_with_new_and_updated_patients_merges_in(spark, settings_factory, synthea27, tmp_path):
    patients = [r["Id"] for r in data_rows(synthea27.input_dir / "patients.csv")]
    first, second = set(patients[: len(patients) // 2]), set(patients[len(patients) // 2 :])
    updated = sorted(first)[:2]  # re-sent in the second extract
    settings = settings_factory()
    run_etl(spark, settings, write_subset(synthea27.input_dir, tmp_path / "e1", first), "inc-1")
    wh = Catalog(settings.warehouse)
    ids_before = {r["person_source_value"]: r["person_id"] for r in read_table(spark, wh, "omop.person").collect()}
    run_etl(spark, settings, write_subset(synthea27.input_dir, tmp_path / "e2", second | set(updated)), "inc-2")
    person = read_table(spark, wh, "omop.person")
    ids_after = {r["person_source_value"]: r["person_id"] for r in person.collect()}
    assert len(ids_after) == person.count() == len(patients)
    assert all(ids_after[k] == v for k, v in ids_before.items())
    full = Catalog(synthea27.settings.warehouse)
    for t in EVENT_TABLES + ["visit_occurrence", "payer_plan_period", "condition_era", "drug_era"]:
        assert read_table(spark, wh, f"omop.{t}").count() == read_table(spark, full, f"omop.{t}").count(), t


def _drug_allergy_rows(input_dir) -> list[dict]:
    """allergies.csv rows coded as drugs (RxNorm, or the medication category), not quarantined."""
    path = input_dir / "allergies.csv"
    quarantined = {line for f, line, _, _ in _end_before_start(input_dir) if f == path.name}
    return [r for line, r in enumerate(data_rows(path), start=2) if line not in quarantined
            and (r.get("SYSTEM") == "RxNorm" or r.get("CATEGORY", "").lower() == "medication")]


def test_a_drug_allergy_is_an_allergy_observation_with_the_drug_as_its_value(spark, run, repo_vocabulary):
    # An allergy to aspirin recorded as an aspirin exposure would feed a model the opposite fact.
    expected = _drug_allergy_rows(run.input_dir)
    concept = spark.read.option("header", True).csv(str(repo_vocabulary / "CONCEPT.csv.gz"))
    rxnorm = {r["concept_code"]: int(r["concept_id"]) for r in concept.where(
        (F.col("vocabulary_id") == "RxNorm") & (F.col("standard_concept") == "S")).collect()}
    allergy_to_drug = {int(r["concept_id"]) for r in concept.where(
        (F.col("vocabulary_id") == "SNOMED") & (F.col("concept_code") == "416098002")).collect()} or {0}
    obs = table(spark, run, "observation").where("value_as_concept_id IS NOT NULL").collect()
    got = sorted((r["observation_source_value"], r["value_as_concept_id"]) for r in obs)
    assert got == sorted((r["CODE"], rxnorm.get(r["CODE"], 0)) for r in expected)
    assert {r["observation_concept_id"] for r in obs} <= allergy_to_drug
    if expected:  # the drug still counts as mapped: it is the value
        assert any(v for _, v in got)
