"""Mapping core and era logic on tiny inline frames."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from mlhops.etl.eras import condition_eras, drug_eras
from mlhops.etl.events import ALLERGY, EVENT_SCHEMA
from mlhops.etl.mapping import map_events, mapping_rates
from mlhops.etl.vocabulary import Vocabulary

CONCEPT_DDL = ("concept_id int, concept_name string, domain_id string, vocabulary_id string, "
               "concept_class_id string, standard_concept string, concept_code string, invalid_reason string")
REL_DDL = "concept_id_1 int, concept_id_2 int, relationship_id string, invalid_reason string"


def _vocab(spark) -> Vocabulary:
    concept = spark.createDataFrame([
        (1, "old code", "Condition", "SNOMED", "Clinical Finding", None, "111", "U"),
        (2, "finding", "Observation", "SNOMED", "Clinical Finding", "S", "222", None),
        (3, "glucose", "Measurement", "LOINC", "Lab Test", "S", "2345-7", None),
        (4, "mg/dL", "Unit", "UCUM", "Unit", "S", "mg/dL", None),
        (5, "drug", "Drug", "RxNorm", "Clinical Drug", "S", "99", None),
        (6, "ingredient", "Drug", "RxNorm", "Ingredient", "S", "9", None),
    ], CONCEPT_DDL)
    rel = spark.createDataFrame([(1, 2, "Maps to", None), (5, 6, "RxNorm has ing", None)], REL_DDL)
    return Vocabulary(concept=concept, concept_relationship=rel, files=())


def _event(key: str, vocab: str, code: str, domain: str, unit: str | None = None) -> dict:
    row = {f.name: None for f in EVENT_SCHEMA.fields}
    row.update(source_table="t", source_file="t.csv", source_line=2, event_key=key, person_key="p",
               start_ts=dt.datetime(2020, 1, 1), vocabulary_id=vocab, code=code, default_domain=domain,
               type_concept_id=32817, unit_source_value=unit)
    return row


def test_codes_route_to_the_table_of_their_standard_domain_and_unmapped_codes_to_the_default(spark):
    events = spark.createDataFrame([
        _event("a", "SNOMED", "111", "Condition"),           # non-standard, Maps to an Observation concept
        _event("b", "LOINC", "2345-7", "Measurement", "mg/dL"),
        _event("c", "SNOMED", "000", "Condition"),            # not in the vocabulary
        _event("d", "LOINC", "2345-7", "Measurement", "furlongs"),
    ], EVENT_SCHEMA)
    mapped = {r["event_key"]: r for r in map_events(events, _vocab(spark)).collect()}
    assert (mapped["a"]["source_concept_id"], mapped["a"]["concept_id"], mapped["a"]["target_table"]) == (1, 2, "observation")
    assert (mapped["b"]["concept_id"], mapped["b"]["unit_concept_id"], mapped["b"]["target_table"]) == (3, 4, "measurement")
    assert (mapped["c"]["concept_id"], mapped["c"]["source_concept_id"], mapped["c"]["target_table"]) == (0, 0, "condition_occurrence")
    assert mapped["c"]["code"] == "000"
    assert mapped["d"]["unit_concept_id"] == 0
    rates = mapping_rates(map_events(events, _vocab(spark)))
    assert rates["SNOMED"]["rate"] == 0.5 and rates["LOINC"]["rate"] == 1.0


def test_every_allergy_is_an_observation_and_a_drug_allergy_holds_the_drug_as_its_value(spark):
    events = spark.createDataFrame([
        _event("drug", "RxNorm", "99", ALLERGY),        # a drug: value of "Allergy to drug"
        _event("unmapped-drug", "RxNorm", "12345", ALLERGY),
        _event("finding", "SNOMED", "222", ALLERGY),     # an allergy finding: the observation itself
        _event("exposure", "RxNorm", "99", "Drug"),     # the same drug, taken: a drug exposure
    ], EVENT_SCHEMA)
    got = lambda vocab: {r["event_key"]: (r["target_table"], r["concept_id"], r["value_as_concept_id"])  # noqa: E731
                         for r in map_events(events, vocab).collect()}
    without = got(_vocab(spark))  # the vocabulary lacks "Allergy to drug": concept 0, the drug still the value
    assert without == {"drug": ("observation", 0, 5), "unmapped-drug": ("observation", 0, 0),
                       "finding": ("observation", 2, None), "exposure": ("drug_exposure", 5, None)}
    v = _vocab(spark)
    allergy = spark.createDataFrame([(7, "Allergy to drug", "Observation", "SNOMED", "Clinical Finding", "S", "416098002", None)], CONCEPT_DDL)
    assert got(Vocabulary(v.concept.unionByName(allergy), v.concept_relationship, ()))["drug"] == ("observation", 7, 5)
    assert mapping_rates(map_events(events, v))["RxNorm"]["mapped"] == 2.0  # the mapped drug counts, as value or exposure


def test_condition_occurrences_within_30_days_form_one_era(spark):
    d = dt.date(2020, 1, 1)
    occ = spark.createDataFrame([
        (1, 10, d, d + dt.timedelta(days=1)),
        (1, 10, d + dt.timedelta(days=20), None),            # starts within 30 days of the previous end
        (1, 10, d + dt.timedelta(days=100), d + dt.timedelta(days=101)),
        (1, 0, d, None),                                       # unmapped: no era
    ], "person_id int, condition_concept_id int, condition_start_date date, condition_end_date date")
    eras = sorted(condition_eras(occ).collect(), key=lambda r: r["condition_era_start_date"])
    assert [(r["condition_era_start_date"], r["condition_era_end_date"], r["condition_occurrence_count"]) for r in eras] == [
        (d, d + dt.timedelta(days=21), 2),
        (d + dt.timedelta(days=100), d + dt.timedelta(days=101), 1),
    ]


def test_drug_exposures_roll_up_to_their_ingredient_across_gaps_of_at_most_30_days(spark):
    d = dt.date(2021, 3, 1)
    exp = spark.createDataFrame([
        (1, 5, d, d + dt.timedelta(days=10), None),
        (1, 5, d + dt.timedelta(days=35), d + dt.timedelta(days=40), None),   # 25-day gap: same era
        (1, 5, d + dt.timedelta(days=90), d + dt.timedelta(days=91), None),   # 50-day gap: new era
    ], "person_id int, drug_concept_id int, drug_exposure_start_date date, drug_exposure_end_date date, days_supply int")
    eras = sorted(drug_eras(exp, _vocab(spark)).collect(), key=lambda r: r["drug_era_start_date"])
    assert {r["drug_concept_id"] for r in eras} == {6}
    assert [(r["drug_exposure_count"], r["gap_days"]) for r in eras] == [(2, 25), (1, 0)]
    assert eras[0]["drug_era_end_date"] == d + dt.timedelta(days=40)
