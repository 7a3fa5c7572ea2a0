"""Layout detection, conservation arithmetic and the source registry (no Spark)."""

from __future__ import annotations

import pytest

from mlhops.errors import ConfigError
from mlhops.etl.conservation import Conservation, TableAccount
from mlhops.etl.sources import SOURCES, get_extractor
from mlhops.etl.sources.synthea import detect_layout


def test_synthea_3x_is_recognised_by_its_procedure_start_column():
    assert detect_layout({"procedures": ["START", "STOP", "PATIENT"], "patients": ["Id"]}) == "synthea-3.x"


def test_synthea_2x_has_a_single_procedure_date_and_no_claims():
    headers = {"procedures": ["DATE", "PATIENT"], "allergies": ["START", "STOP", "PATIENT", "ENCOUNTER", "CODE"],
               "payer_transitions": ["PATIENT", "START_YEAR", "END_YEAR", "PAYER", "OWNERSHIP"]}
    assert detect_layout(headers) == "synthea-2.x"


def test_a_table_balances_only_when_read_equals_loaded_quarantined_and_filtered():
    ok = TableAccount(read=10, loaded=6, quarantined=1, filtered={"duplicate": 2, "no target": 1})
    lost = TableAccount(read=10, loaded=6, quarantined=1, filtered={"duplicate": 2})
    cons = Conservation(tables={"a": ok, "b": lost})
    assert ok.balanced and not lost.balanced
    assert cons.unbalanced() == ["b"]
    assert cons.metrics()["rows_filtered.a"] == 3.0


def test_unknown_source_names_the_known_ones():
    assert "synthea-csv" in SOURCES
    with pytest.raises(ConfigError, match="synthea-csv"):
        get_extractor("no-such-source")
