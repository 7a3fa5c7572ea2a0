"""The table catalog is the one list of tables: complete, consistent, and the only place names live."""

from __future__ import annotations

import re
from pathlib import Path

from mlhops.io.tables import all_tables, person_key_tables, spec
from mlhops.pipelines import STAGES

LIB = Path(__file__).resolve().parents[3] / "lib" / "mlhops"
OWNERS = {s.name for s in STAGES} | {"orchestrator"}
# A quoted table name: "omop.person", 'mlhops.features'; not a mapping key such as the MLflow tag
# "mlhops.features": ... (tags are named after what they describe).
_LITERAL = re.compile(r"""["'](?:omop|mlhops)\.([a-z_0-9]+)["'](?!\s*:)""")


def test_every_table_has_an_owning_stage_and_a_description():
    for name, t in all_tables().items():
        assert t.owner in OWNERS, name
        assert t.description, name
        assert name.split(".")[0] in ("omop", "mlhops"), name


def test_keys_and_person_columns_are_columns_of_the_table():
    for name, t in all_tables().items():
        if t.schema is None:
            continue
        assert set(t.keys) <= set(t.columns), name
        assert set(t.person_columns) <= set(t.columns), name


def test_every_omop_table_with_a_person_id_is_marked_as_carrying_person_keys():
    carriers = person_key_tables()
    for name, t in all_tables().items():
        if name.startswith("omop.") and "person_id" in t.columns:
            assert "person_id" in carriers.get(name, ()), name


def test_platform_tables_that_identify_patients_are_listed_for_erasure():
    carriers = person_key_tables()
    for name in ("omop.person", "omop.visit_occurrence", "mlhops.features", "mlhops.inference_log"):
        assert carriers.get(name), name


def test_the_core_run_table_is_keyed_by_run_and_stage():
    assert spec("mlhops.runs").keys == ("run_id", "stage")


def test_no_table_name_is_written_as_a_literal_outside_the_catalog():
    tables = {n.split(".", 1)[1] for n in all_tables()}
    offenders = []
    for path in LIB.rglob("*.py"):
        if "io/tables" in path.as_posix():
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for m in _LITERAL.finditer(line):
                if m.group(1) in tables:
                    offenders.append(f"{path.relative_to(LIB)}:{i}")
    assert offenders == []
