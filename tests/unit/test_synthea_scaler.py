"""scripts/synthea_scaler.py: a scaled Synthea export is k copies with fresh ids and shifted dates."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from synthea_scaler import scale, shift  # noqa: E402 - scripts/ is not a package

P1 = "11111111-aaaa-bbbb-cccc-000000000001"
E1 = "22222222-aaaa-bbbb-cccc-000000000001"
ORG = "33333333-aaaa-bbbb-cccc-000000000001"


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _export(src: Path) -> None:
    src.mkdir()
    _write(src / "patients.csv", ["Id", "BIRTHDATE", "GENDER"], [[P1, "1980-02-28", "F"]])
    _write(src / "encounters.csv", ["Id", "START", "PATIENT", "ORGANIZATION"],
           [[E1, "2020-12-31T23:00:00Z", P1, ORG]])
    _write(src / "observations.csv", ["DATE", "PATIENT", "ENCOUNTER", "CODE", "VALUE"],
           [["2021-01-01T00:00:00Z", P1, E1, "8302-2", "2020-01-01x"], ["2021-01-02", P1, E1, "8302-2", "170.1"]])
    _write(src / "organizations.csv", ["Id", "NAME"], [[ORG, "Clinic"]])


def test_three_copies_triple_the_event_files_and_keep_reference_files_once(tmp_path: Path) -> None:
    _export(tmp_path / "src")
    n = scale(tmp_path / "src", tmp_path / "dst", 3)
    assert len(_read(tmp_path / "dst" / "patients.csv")) == 3
    assert len(_read(tmp_path / "dst" / "observations.csv")) == 6
    assert len(_read(tmp_path / "dst" / "organizations.csv")) == 1
    assert n == 3 + 3 + 6 + 1


def test_copy_zero_is_the_export_itself(tmp_path: Path) -> None:
    _export(tmp_path / "src")
    scale(tmp_path / "src", tmp_path / "dst", 2)
    for name in ("patients", "encounters", "observations"):
        assert _read(tmp_path / "dst" / f"{name}.csv")[: len(_read(tmp_path / "src" / f"{name}.csv"))] == \
            _read(tmp_path / "src" / f"{name}.csv")


def test_each_copy_has_fresh_ids_that_still_link_its_rows(tmp_path: Path) -> None:
    _export(tmp_path / "src")
    scale(tmp_path / "src", tmp_path / "dst", 3)
    patients = [r["Id"] for r in _read(tmp_path / "dst" / "patients.csv")]
    encounters = _read(tmp_path / "dst" / "encounters.csv")
    assert len(set(patients)) == 3
    assert [r["PATIENT"] for r in encounters] == patients
    obs = _read(tmp_path / "dst" / "observations.csv")
    assert [r["ENCOUNTER"] for r in obs] == [e["Id"] for e in encounters for _ in range(2)]
    # shared reference ids are not rewritten
    assert {r["ORGANIZATION"] for r in encounters} == {ORG}


def test_copy_k_shifts_dates_by_k_days_across_month_and_year_ends(tmp_path: Path) -> None:
    _export(tmp_path / "src")
    scale(tmp_path / "src", tmp_path / "dst", 3)
    assert [r["BIRTHDATE"] for r in _read(tmp_path / "dst" / "patients.csv")] == \
        ["1980-02-28", "1980-02-29", "1980-03-01"]
    assert [r["START"] for r in _read(tmp_path / "dst" / "encounters.csv")] == \
        ["2020-12-31T23:00:00Z", "2021-01-01T23:00:00Z", "2021-01-02T23:00:00Z"]


def test_values_that_only_start_like_a_date_keep_their_suffix_and_codes_are_untouched() -> None:
    assert shift("2020-01-01x", 1) == "2020-01-02x"
    assert shift("8302-2", 5) == "8302-2"
    assert shift("2021-02-30", 1) == "2021-02-30"  # not a date: left as is
    assert shift("170.1", 3) == "170.1"
