"""mlhops generate for real: Synthea 3.3.0 on this machine's Java, two states, same seed twice.

No skip: when the jars are absent the set-up is wrong (scripts/test runs
``python -m mlhops.runtime_setup fetch-synthea``), and these tests fail saying so.
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from mlhops.populations.synthea import GenerateRequest, generate
from mlhops.runtime_setup import SYNTHEA_VERSION, cached_synthea_classpath

pytestmark = pytest.mark.slow

# The CSV tables of a 3.3.0 population (claims and patient_expenses are left out by default) and
# the columns the 3.3.0 layout added or renamed, which the ETL must read (issue 14).
TABLES = {
    "allergies", "careplans", "conditions", "devices", "encounters", "imaging_studies",
    "immunizations", "medications", "observations", "organizations", "patients",
    "payer_transitions", "payers", "procedures", "providers", "supplies",
}
HEADERS = {
    "patients": ["Id", "BIRTHDATE", "DEATHDATE", "SSN", "DRIVERS", "PASSPORT", "PREFIX", "FIRST", "MIDDLE",
                 "LAST", "SUFFIX", "MAIDEN", "MARITAL", "RACE", "ETHNICITY", "GENDER", "BIRTHPLACE",
                 "ADDRESS", "CITY", "STATE", "COUNTY", "FIPS", "ZIP", "LAT", "LON",
                 "HEALTHCARE_EXPENSES", "HEALTHCARE_COVERAGE", "INCOME"],
    "conditions": ["START", "STOP", "PATIENT", "ENCOUNTER", "SYSTEM", "CODE", "DESCRIPTION"],
    "payer_transitions": ["PATIENT", "MEMBERID", "START_DATE", "END_DATE", "PAYER", "SECONDARY_PAYER",
                          "PLAN_OWNERSHIP", "OWNER_NAME"],
    "encounters": ["Id", "START", "STOP", "PATIENT", "ORGANIZATION", "PROVIDER", "PAYER", "ENCOUNTERCLASS",
                   "CODE", "DESCRIPTION", "BASE_ENCOUNTER_COST", "TOTAL_CLAIM_COST", "PAYER_COVERAGE",
                   "REASONCODE", "REASONDESCRIPTION"],
}
SETUP = "run scripts/demo or python -m mlhops.runtime_setup fetch-synthea"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Massachusetts seed 11 twice (with FHIR), Texas seed 11 once (gzip), 5 living patients each."""
    assert cached_synthea_classpath(), f"the Synthea {SYNTHEA_VERSION} jars are not in the cache: {SETUP}"
    base = tmp_path_factory.mktemp("populations")
    out = {}
    for name, kw in {
        "ma1": {"state": "Massachusetts", "fhir": True},
        "ma2": {"state": "MA", "fhir": True},
        "tx": {"state": "Texas", "gzip": True},
    }.items():
        req = GenerateRequest(population=5, seed=11, out=base / name, years_of_history=5, **kw)
        out[name] = generate(req)
    return base, out


def _header(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


def test_files_and_headers_of_a_3_3_0_population(runs):
    base, out = runs
    for name, suffix in (("ma1", ".csv"), ("tx", ".csv.gz")):
        m = out[name]
        assert set(m["tables"]) == TABLES
        assert sorted(p.name for p in (base / name / "csv").iterdir()) == sorted(t + suffix for t in TABLES)
        for table, header in HEADERS.items():
            assert _header(base / name / "csv" / f"{table}{suffix}") == header, (name, table)
        assert m["records"]["alive"] == 5
        assert m["tables"]["patients"]["rows"] == m["records"]["total"]
        assert m["tables"]["encounters"]["rows"] > 0 and m["tables"]["observations"]["rows"] > 0
    with gzip.open(base / "tx" / "csv" / "patients.csv.gz", "rt", encoding="utf-8") as fh:
        assert {r["STATE"] for r in csv.DictReader(fh)} == {"Texas"}
    with open(base / "ma1" / "csv" / "patients.csv", encoding="utf-8") as fh:
        assert {r["STATE"] for r in csv.DictReader(fh)} == {"Massachusetts"}
    # FHIR: one bundle per record, plus the hospital and practitioner files
    fhir = sorted(p.name for p in (base / "ma1" / "fhir").iterdir())
    assert len(fhir) == out["ma1"]["records"]["total"] + 2
    assert any(n.startswith("hospitalInformation") for n in fhir)
    bundle = json.loads((base / "ma1" / "fhir" / fhir[-1]).read_text())
    assert bundle["resourceType"] == "Bundle"


def test_no_record_ends_after_the_reference_date(runs):
    base, _ = runs
    with open(base / "ma1" / "csv" / "encounters.csv", encoding="utf-8") as fh:
        assert max(r["START"][:10] for r in csv.DictReader(fh)) <= "2025-01-01"


def test_same_command_same_files(runs):
    base, out = runs
    a, b = out["ma1"], out["ma2"]
    def sums(m):
        return {t: v["sha256"] for t, v in m["tables"].items()}

    assert sums(a) == sums(b)
    assert a["fhir_files"]["sha256"] == b["fhir_files"]["sha256"]
    # population.json differs only in the run entry and where it was written
    strip = ("run", "command", "argv", "mlhops_command")
    assert {k: v for k, v in a.items() if k not in strip} == {k: v for k, v in b.items() if k not in strip}
    assert a["mlhops_command"].replace("ma1", "ma2") == b["mlhops_command"]
    # another state with the same seed is another population
    tx = out["tx"]["records"]
    assert tx["total"] >= 5 and out["tx"]["state"] == "Texas"
