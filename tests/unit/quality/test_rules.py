"""Quality check declarations and run planning, without Spark: what a check needs, how a folder
of checks loads, which checks run when tables are missing, which windows a run replaces."""

from __future__ import annotations

import datetime as dt

import pytest

from mlhops.config.stages import QualitySettings
from mlhops.errors import ConfigError
from mlhops.omop import schema as omop_schema
from mlhops.quality.rules import CheckSpec, checks_dir, expand, load_checks
from mlhops.quality.runner import CONTEXT_TABLES, runnable_checks, tables_read, window_predicate

RANGE = {"id": "hr", "type": "range", "category": "plausibility", "subcategory": "atemporal",
         "table": "measurement", "concept_ids": (3027018,), "min": 20.0, "max": 250.0}


def _check(**kw):
    return CheckSpec(**{**RANGE, **kw})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"min": None, "max": None}, "needs min and/or max"),
        ({"concept_ids": ()}, "needs concept_ids"),
        ({"threshold_pct": 101.0}, r"threshold_pct must be within \[0, 100\]"),
        ({"type": "foreign_key", "field": "person_id"}, "needs ref_table, ref_field"),
        ({"type": "end_before_start", "field": "measurement_date"}, "needs start_field"),
        ({"type": "value_set", "field": "no_such_column", "values": ("1",)},
         "measurement has no column no_such_column"),
    ],
)
def test_a_check_missing_what_its_type_needs_is_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        _check(**changes)


def test_a_range_check_may_bound_one_side_only():
    assert _check(max=None).min == 20.0
    assert _check(min=None).max == 250.0


def test_required_fields_expand_into_one_check_per_required_column():
    base = CheckSpec(id="person_required", type="required_fields", category="completeness",
                     subcategory="required_fields", table="person")
    expanded = expand(base)
    assert [c.field for c in expanded] == omop_schema.required_columns("person")
    assert "person_required.gender_concept_id" in {c.id for c in expanded}
    assert expand(_check()) == [_check()]


def _write(folder, name, *lines):
    (folder / name).write_text("checks:\n" + "".join(f"  - {line}\n" for line in lines))


def test_a_folder_of_checks_loads_in_file_order_with_required_fields_expanded(tmp_path):
    _write(tmp_path, "a.yaml",
           "{id: p, type: required_fields, category: completeness, subcategory: s, table: person}")
    _write(tmp_path, "b.yaml", "{id: hr, type: range, category: plausibility, subcategory: atemporal, "
                               "table: measurement, concept_ids: [3027018], max: 250}")
    checks = load_checks(tmp_path)
    assert checks[-1] == CheckSpec(id="hr", type="range", category="plausibility", subcategory="atemporal",
                                   table="measurement", concept_ids=(3027018,), max=250.0)
    assert len(checks) == len(omop_schema.required_columns("person")) + 1


def test_duplicate_check_ids_across_files_are_refused(tmp_path):
    line = ("{id: hr, type: range, category: plausibility, subcategory: a, table: measurement, "
            "concept_ids: [1], min: 1}")
    _write(tmp_path, "a.yaml", line)
    _write(tmp_path, "b.yaml", line)
    with pytest.raises(ConfigError, match=r"duplicate check id\(s\) \['hr'\]"):
        load_checks(tmp_path)


def test_an_invalid_check_is_refused_naming_file_and_entry(tmp_path):
    _write(tmp_path, "a.yaml",
           "{id: hr, type: range, category: plausibility, subcategory: a, table: measurement, "
           "concept_ids: [1]}")
    with pytest.raises(ConfigError, match=r"a\.yaml: checks\[0\]: check hr \(range\) needs min and/or max"):
        load_checks(tmp_path)


def test_an_empty_checks_folder_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"no quality check files \(\*\.yaml\)"):
        load_checks(tmp_path)


def test_checks_dir_is_the_configured_one_or_quality_beside_the_base_file(tmp_path):
    base = str(tmp_path / "conf" / "base.yaml")
    assert checks_dir([base], QualitySettings(checks_dir=str(tmp_path / "mine"))) == tmp_path / "mine"
    assert checks_dir([base], QualitySettings()) == (tmp_path / "conf").resolve() / "quality"


def test_the_shipped_checks_cover_every_kahn_category():
    checks = load_checks(checks_dir([], QualitySettings()))
    assert {c.category for c in checks} == {"completeness", "conformance", "plausibility"}


def test_a_run_reads_the_checked_and_referenced_tables_plus_person_facts_and_concepts():
    fk = _check(id="fk", type="foreign_key", field="visit_occurrence_id", ref_table="visit_occurrence",
                ref_field="visit_occurrence_id")
    assert tables_read([_check(), fk]) == {"measurement", "visit_occurrence", *CONTEXT_TABLES}


def test_checks_of_missing_tables_are_skipped():
    fk = _check(id="fk", type="foreign_key", field="visit_occurrence_id", ref_table="visit_occurrence",
                ref_field="visit_occurrence_id")
    domain = _check(id="dom", type="concept_domain", field="measurement_concept_id", domain="Measurement")
    checks = [_check(), fk, domain]
    assert runnable_checks(checks, {"measurement", "visit_occurrence", "concept"}) == {"measurement": checks}
    assert runnable_checks(checks, {"measurement"}) == {"measurement": [_check()]}
    assert runnable_checks(checks, {"person"}) == {}


def test_a_bounded_run_replaces_only_its_windows_and_an_open_run_replaces_the_table():
    assert window_predicate("month", None, None) is None
    assert window_predicate("month", dt.date(2024, 1, 1), dt.date(2024, 3, 1)) == (
        "granularity = 'month' AND window_start >= DATE'2024-01-01' AND window_start < DATE'2024-03-01'"
    )
    assert window_predicate("week", None, dt.date(2024, 3, 1)) == (
        "granularity = 'week' AND window_start < DATE'2024-03-01'"
    )
