"""Source patient ids -> the natural person keys each source's ETL hashed (no Spark needed)."""

from __future__ import annotations

import pytest

from mlhops.erasure.keys import person_keys, read_ids
from mlhops.errors import ConfigError


def test_each_source_keys_its_patients_as_its_etl_does():
    assert person_keys("synthea-csv", ["a1", "b2", "a1"]) == ["a1", "b2"]
    assert person_keys("cxr-metadata", ["17"]) == ["nih-cxr14:17"]
    assert person_keys("omop", ["-42"]) == ["omop|person|-42"]
    with pytest.raises(ConfigError, match="unknown source"):
        person_keys("csv", ["x"])


def test_an_ids_file_is_read_line_by_line_and_refused_without_quoting_it(tmp_path):
    f = tmp_path / "ids.txt"
    f.write_text(" p-1 \n\np-2\n", encoding="utf-8")
    assert read_ids(f, max_ids=2) == ["p-1", "p-2"]
    with pytest.raises(ConfigError) as exc:
        read_ids(f, max_ids=1)
    assert "p-1" not in str(exc.value) and "2 ids" in str(exc.value)
    f.write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no ids"):
        read_ids(f, max_ids=5)
