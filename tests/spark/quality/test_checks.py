"""Check conditions and windows on tiny inline OMOP frames (no shared data)."""

from __future__ import annotations

import datetime as dt

import pytest

from mlhops.config.stages import QualitySettings
from mlhops.io.tables.operations import QUALITY_RESULTS_SCHEMA
from mlhops.quality.checks import ALL_TIME
from mlhops.quality.rules import CheckSpec
from mlhops.quality.runner import evaluate_checks

D = dt.date
HEART_RATE = 3027018
MEASUREMENT = ("person_id long, measurement_concept_id int, value_as_number double, unit_concept_id int, "
               "measurement_date date")
PERSON = ("person_id long, gender_concept_id int, year_of_birth int, month_of_birth int, day_of_birth int, "
          "birth_datetime timestamp")


def _check(id_: str, type_: str, table: str = "measurement", **kw) -> CheckSpec:
    return CheckSpec(id=id_, type=type_, category="plausibility", subcategory="s", table=table, **kw)


def _columns(schema):
    return [(f.name, f.dataType) for f in schema.fields]


def _rows(spark, frames, checks, **settings):
    out = evaluate_checks(spark, frames, checks, QualitySettings(**settings))
    assert _columns(out.schema) == _columns(QUALITY_RESULTS_SCHEMA)
    return {(r.check_id, r.window_start): r for r in out.collect()}


def test_range_counts_values_outside_the_bounds_per_month_window(spark):
    m = spark.createDataFrame([
        (1, HEART_RATE, 60.0, 8541, D(2024, 1, 3)), (1, HEART_RATE, 300.0, 8541, D(2024, 1, 20)),
        (1, HEART_RATE, None, 8541, D(2024, 1, 21)),  # no value: not checked
        (2, 9999, 900.0, 8541, D(2024, 1, 5)),  # another concept: not checked
        (2, HEART_RATE, 80.0, 8541, D(2024, 2, 1)),
    ], MEASUREMENT)
    hr = _check("hr", "range", concept_ids=(HEART_RATE,), min=20.0, max=250.0)
    rows = _rows(spark, {"measurement": m}, [hr])
    jan, feb = rows[("hr", D(2024, 1, 1))], rows[("hr", D(2024, 2, 1))]
    assert (jan.rows_checked, jan.rows_failing, jan.pct_failing, jan.status) == (2, 1, 50.0, "fail")
    assert jan.window_end == D(2024, 2, 1) and jan.granularity == "month"
    assert (feb.rows_checked, feb.rows_failing, feb.status) == (1, 0, "pass")


def test_null_rate_passes_up_to_its_threshold_and_fails_above(spark):
    def frame(nulls):
        return spark.createDataFrame(
            [(i, HEART_RATE, None if i < nulls else 70.0, 8541, D(2024, 3, 1)) for i in range(5)], MEASUREMENT
        )

    check = _check("value_present", "required_fields", field="value_as_number", threshold_pct=40.0)
    at = _rows(spark, {"measurement": frame(2)}, [check])[("value_present", D(2024, 3, 1))]
    above = _rows(spark, {"measurement": frame(3)}, [check])[("value_present", D(2024, 3, 1))]
    assert (at.rows_checked, at.rows_failing, at.pct_failing, at.threshold_pct) == (5, 2, 40.0, 40.0)
    assert at.status == "pass"
    assert (above.rows_failing, above.pct_failing, above.status) == (3, 60.0, "fail")


@pytest.mark.parametrize(
    ("granularity", "start", "end"),
    [
        ("day", D(2024, 5, 15), D(2024, 5, 16)),
        ("week", D(2024, 5, 13), D(2024, 5, 20)),  # Wednesday -> Monday
        ("month", D(2024, 5, 1), D(2024, 6, 1)),
        ("year", D(2024, 1, 1), D(2025, 1, 1)),
    ],
)
def test_results_fall_in_the_window_of_the_event_date(spark, granularity, start, end):
    m = spark.createDataFrame([(1, HEART_RATE, 70.0, 8541, D(2024, 5, 15))], MEASUREMENT)
    rows = _rows(spark, {"measurement": m}, [_check("u", "unit", concept_ids=(HEART_RATE,), units=(8541,))],
                 window=granularity)
    (key, row), = rows.items()
    assert key == ("u", start) and row.window_end == end and row.granularity == granularity


def test_tables_without_an_event_date_are_checked_as_one_all_time_window(spark):
    person = spark.createDataFrame([(1, 8507, 1980, 1, 1, None), (2, 1234, 1990, 1, 1, None)], PERSON)
    check = _check("gender", "value_set", table="person", field="gender_concept_id", values=("8507", "8532"))
    (key, row), = _rows(spark, {"person": person}, [check]).items()
    assert key == ("gender", D.fromisoformat(ALL_TIME[0])) and row.window_end == D.fromisoformat(ALL_TIME[1])
    assert (row.granularity, row.rows_checked, row.rows_failing) == ("all", 2, 1)


def test_a_bounded_run_counts_only_events_in_its_period(spark):
    m = spark.createDataFrame([(1, HEART_RATE, 300.0, 8541, D(2024, 1, 10)),
                               (1, HEART_RATE, 300.0, 8541, D(2024, 2, 10))], MEASUREMENT)
    hr = _check("hr", "range", concept_ids=(HEART_RATE,), max=250.0)
    out = evaluate_checks(spark, {"measurement": m}, [hr], QualitySettings(),
                          start=D(2024, 2, 1), end=D(2024, 3, 1))
    assert [r.window_start for r in out.collect()] == [D(2024, 2, 1)]


def test_foreign_keys_and_person_dates(spark):
    person = spark.createDataFrame([(1, 8507, 1980, 6, None, None)], PERSON)
    death = spark.createDataFrame([(1, D(2024, 1, 31))], "person_id long, death_date date")
    m = spark.createDataFrame([
        (1, HEART_RATE, 70.0, 8541, D(1979, 6, 1)),  # before birth (June 1980)
        (1, HEART_RATE, 70.0, 8541, D(2024, 3, 1)),  # 30 days after death: within grace
        (1, HEART_RATE, 70.0, 8541, D(2024, 4, 1)),  # 61 days after death
        (7, HEART_RATE, 70.0, 8541, D(2024, 3, 2)),  # no such person
    ], MEASUREMENT)
    checks = [
        _check("fk", "foreign_key", field="person_id", ref_table="person", ref_field="person_id"),
        _check("born", "before_birth", field="measurement_date"),
        _check("dead", "after_death", field="measurement_date", grace_days=60),
    ]
    rows = _rows(spark, {"measurement": m, "person": person, "death": death}, checks, window="year")
    failing = {k: (r.rows_checked, r.rows_failing) for k, r in rows.items()}
    assert failing[("fk", D(2024, 1, 1))] == (3, 1)
    assert failing[("born", D(1979, 1, 1))] == (1, 1) and failing[("born", D(2024, 1, 1))] == (2, 0)
    assert failing[("dead", D(2024, 1, 1))] == (2, 1)


def test_checks_whose_table_is_missing_give_no_results(spark):
    hr = _check("hr", "range", concept_ids=(HEART_RATE,), max=250.0)
    out = evaluate_checks(spark, {}, [hr], QualitySettings())
    assert _columns(out.schema) == _columns(QUALITY_RESULTS_SCHEMA) and out.count() == 0
