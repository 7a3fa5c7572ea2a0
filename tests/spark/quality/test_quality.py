"""Each Kahn category catches a planted violation in the right window; clean data passes."""

from __future__ import annotations

import datetime as dt

import pytest

from mlhops.io import Catalog, read_table
from mlhops.io.tables.etl import MEASUREMENT, PERSON, omop_table
from mlhops.io.tables.operations import QUALITY_RESULTS
from mlhops.pipelines.context import Context
from mlhops.pipelines.orchestrate import run_stage
from mlhops.pipelines.stage import StageRequest
from mlhops.quality.rules import checks_dir, load_checks

VISIT_OCCURRENCE = omop_table("visit_occurrence")
CONDITION_OCCURRENCE = omop_table("condition_occurrence")


def _results(spark, settings):
    return read_table(spark, Catalog(settings.warehouse), QUALITY_RESULTS).toPandas()


def run_quality(spark, settings, run_id):
    """The quality stage's result, run as the CLI runs it."""
    outcome = run_stage(Context.build(settings, spark), "quality", StageRequest(run_id=run_id))
    assert outcome.result is not None and outcome.status != "failed", outcome.message
    return outcome.result


@pytest.fixture(scope="module")
def clean(spark, omop_warehouse, settings_factory, tmp_path_factory):
    import shutil

    wh = tmp_path_factory.mktemp("quality_clean")
    shutil.copytree(omop_warehouse / "omop", wh / "omop")
    settings = settings_factory(wh)
    result = run_quality(spark, settings, "clean")
    return settings, result, _results(spark, settings)


def test_every_check_declares_a_kahn_category_and_required_fields_follow_the_spec(clean):
    settings, _, _ = clean
    checks = load_checks(checks_dir(settings.sources, settings.quality))
    assert {c.category for c in checks} == {"completeness", "conformance", "plausibility"}
    assert "person_required.gender_concept_id" in {c.id for c in checks}


def test_clean_export_passes_every_check(clean):
    _, result, results = clean
    failing = results[results.status == "fail"][["check_id", "window_start", "rows_failing"]]
    assert failing.empty, failing.head(20).to_string()
    assert result.status == "ok"
    assert (results.rows_checked > 0).any()
    assert set(results.category) == {"completeness", "conformance", "plausibility"}


def _plant(spark, cat, table, assignment, where):
    spark.sql(f"UPDATE delta.`{cat.omop(table)}` SET {assignment} WHERE {where}")


def test_planted_violations_fail_their_check_in_their_window_only(spark, omop_copy, settings_factory):
    settings = settings_factory(omop_copy)
    cat = Catalog(settings.warehouse)
    hr = read_table(spark, cat, MEASUREMENT).where("measurement_concept_id = 3027018").first()
    visit = read_table(spark, cat, VISIT_OCCURRENCE).orderBy("visit_occurrence_id").first()
    male = read_table(spark, cat, PERSON).where("gender_concept_id = 8507").first()
    cond = read_table(spark, cat, CONDITION_OCCURRENCE).where(f"person_id = {male['person_id']}").first()
    # completeness: a required field missing
    _plant(spark, cat, "visit_occurrence", "visit_type_concept_id = NULL", f"visit_occurrence_id = {visit['visit_occurrence_id']}")
    # conformance: heart rate in another unit; an orphan person id
    _plant(spark, cat, "measurement", "unit_concept_id = 8554, value_as_number = 400", f"measurement_id = {hr['measurement_id']}")
    _plant(spark, cat, "visit_occurrence", "person_id = 999999", f"visit_occurrence_id = {visit['visit_occurrence_id']}")
    # plausibility: temporal order and a sex-specific condition
    _plant(spark, cat, "condition_occurrence", "condition_concept_id = 439393", f"condition_occurrence_id = {cond['condition_occurrence_id']}")
    result = run_quality(spark, settings, "planted")
    assert result.status == "alerts"
    res = _results(spark, settings)
    fails = res[res.status == "fail"]
    month = lambda d: dt.date(d.year, d.month, 1)  # noqa: E731
    expect = {
        ("visit_required.visit_type_concept_id", month(visit["visit_start_date"])),
        ("visit_person_fk", month(visit["visit_start_date"])),
        ("unit_heart_rate", month(hr["measurement_date"])),
        ("range_heart_rate", month(hr["measurement_date"])),
        ("condition_female_only", month(cond["condition_start_date"])),
    }
    got = {(r.check_id, r.window_start) for r in fails.itertuples()}
    assert expect <= got
    assert {c for c, _ in got} == {c for c, _ in expect}
    one = fails[fails.check_id == "range_heart_rate"].iloc[0]
    assert one.rows_failing == 1 and one.category == "plausibility" and one.subcategory == "atemporal"
    assert one.pct_failing == pytest.approx(100.0 / one.rows_checked)


def test_temporal_plausibility_catches_events_before_birth_and_visits_ending_before_start(
    spark, omop_copy, settings_factory
):
    settings = settings_factory(omop_copy)
    cat = Catalog(settings.warehouse)
    visit = read_table(spark, cat, VISIT_OCCURRENCE).orderBy("visit_occurrence_id").first()
    person = read_table(spark, cat, PERSON).where(f"person_id = {visit['person_id']}").first()
    _plant(spark, cat, "visit_occurrence", "visit_end_date = date_sub(visit_start_date, 3)",
           f"visit_occurrence_id = {visit['visit_occurrence_id']}")
    meas = read_table(spark, cat, MEASUREMENT).where(f"person_id = {person['person_id']}").first()
    _plant(spark, cat, "measurement", f"measurement_date = DATE'{person['year_of_birth'] - 1}-06-15'",
           f"measurement_id = {meas['measurement_id']}")
    run_quality(spark, settings, "temporal")
    res = _results(spark, settings)
    fails = set(res[res.status == "fail"].check_id)
    assert {"visit_end_before_start", "measurement_before_birth"} <= fails
    window = res[(res.check_id == "measurement_before_birth") & (res.status == "fail")].window_start.iloc[0]
    assert window == dt.date(person["year_of_birth"] - 1, 6, 1)
