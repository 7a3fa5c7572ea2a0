"""Rows that cannot be loaded reach mlhops.quarantine with file, line, field and reason only."""

from __future__ import annotations

import csv

import pytest

from mlhops.io import Catalog, read_table
from tests.conftest import shared_path
from tests.spark.etl.conftest import data_rows, run_etl, write_subset

pytestmark = pytest.mark.heavy

UNKNOWN_PATIENT = "ffffffff-0000-4000-8000-123456789abc"


def _append(path, rows: list[list[str]]) -> list[int]:
    """Append rows; return their physical line numbers."""
    n_lines = sum(1 for _ in open(path, encoding="utf-8"))
    with open(path, "a", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerows(rows)
    return list(range(n_lines + 1, n_lines + 1 + len(rows)))


def test_planted_bad_rows_are_quarantined_with_file_line_field_and_reason(spark, settings_factory, tmp_path):
    src = shared_path("synthea27_csv")
    patients = [r["Id"] for r in data_rows(src / "patients.csv")][:3]
    export = write_subset(src, tmp_path / "bad", set(patients))
    cond = data_rows(export / "conditions.csv")[0]
    enc = cond["ENCOUNTER"]
    good = [cond["START"], cond["STOP"], cond["PATIENT"], enc, cond["CODE"], "planted"]
    lines = _append(export / "conditions.csv", [
        ["2023-13-45", "", cond["PATIENT"], enc, cond["CODE"], "bad date"],
        [good[0], "", UNKNOWN_PATIENT, enc, cond["CODE"], "unknown patient"],
        ["2020-05-01", "2019-01-01", cond["PATIENT"], enc, "1234567", "end before start"],
        ["2020-05-01", cond["PATIENT"]],
        ["1800-01-01", "", cond["PATIENT"], enc, "7654321", "before birth"],
    ])
    obs = data_rows(export / "observations.csv")[0]
    obs_line = _append(export / "observations.csv", [[
        obs["DATE"], obs["PATIENT"], obs["ENCOUNTER"], obs["CATEGORY"], "99999-9", "x", "not-a-number", "mg", "numeric",
    ]])[0]
    enc_line = _append(export / "encounters.csv", [[
        "eeeeeeee-1111-4222-8333-444444444444", "2020-01-01T00:00:00Z", "2020-01-01T01:00:00Z", UNKNOWN_PATIENT,
        "", "", "", "ambulatory", "185345009", "Encounter", "1", "1", "0", "", "",
    ]])[0]

    # One job at a time here (the other ETL tests run the default concurrent path): the outcome
    # must not depend on the concurrency.
    settings = settings_factory(etl={"concurrent_jobs": 1})
    result = run_etl(spark, settings, export, "run-bad")

    q = read_table(spark, Catalog(settings.warehouse), "mlhops.quarantine")
    got = {(r["source_file"], r["source_line"], r["field"], r["reason"]) for r in q.collect()}
    assert got == {
        ("conditions.csv", lines[0], "START", "unparseable timestamp"),
        ("conditions.csv", lines[1], "person_key", "unknown patient"),
        ("conditions.csv", lines[2], "STOP", "impossible dates: end before start"),
        ("conditions.csv", lines[3], None, "malformed row: field count differs from header"),
        ("conditions.csv", lines[4], "start_ts", "impossible dates: before birth"),
        ("observations.csv", obs_line, "VALUE", "unparseable number"),
        ("encounters.csv", enc_line, "person_key", "unknown patient"),
    }
    assert set(q.columns) == {"run_id", "source", "source_table", "source_file", "file_sha256", "source_line",
                              "field", "reason", "recorded_at"}
    assert {r["file_sha256"] for r in q.collect()} <= {f["sha256"] for f in result.details["input_files"]}
    m = result.metrics
    assert m["rows_quarantined.conditions"] == 5 and m["rows_quarantined.observations"] == 1
    for t in ("conditions", "observations", "encounters"):
        assert m[f"rows_read.{t}"] == m[f"rows_loaded.{t}"] + m[f"rows_quarantined.{t}"] + m[f"rows_filtered.{t}"]

    # re-running the same input records each problem once
    run_etl(spark, settings, export, "run-bad-again")
    assert read_table(spark, Catalog(settings.warehouse), "mlhops.quarantine").count() == len(got)
