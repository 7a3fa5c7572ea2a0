"""Fixtures of the FHIR/DICOM/imaging/OMOP-export source tests.

``warehouse`` is the one session-scoped ETL run shared by the DICOM, ChestX-ray14 and PHI
tests: a slice of the real ChestX-ray14 metadata (with planted bad rows), all DICOM test
files, two Synthea FHIR bundles and the same patients' Synthea CSV rows (with planted imaging
rows of an unknown patient and an unknown encounter), loaded through the orchestrator (runs
table, MLflow) into one warehouse, with the ``mlhops`` log captured.
"""

from __future__ import annotations

import csv
import gzip
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import shared_path
from tests.support.logs import captured_mlhops_log
from tests.spark.etl.conftest import write_subset

# Tests use their own salt; never the development default.
os.environ.setdefault("MLHOPS_DEID_SALT", "tests-sources-salt")

CXR_ROWS = 3000  # real rows of the ChestX-ray14 slice
FHIR_PATIENTS = 2
# Planted rows appended after the real slice: (line text, field quarantined or None, reason prefix).
CXR_PLANTED = [
    ("99999999_000.png,Effusion,0,99999999,abc,M,PA,2500,2048,0.168,0.168", "age", "unparseable integer"),
    ("99999999_001.png,Effusion,1,,58,M,PA,2500,2048,0.168,0.168", "patient", "missing required value"),
    ("99999999_002.png,Effusion,2,99999999,58,M,PA,2500", None, "malformed row"),
    ("99999999_003.png,Mass,3,99999999,412,F,AP,2500,2048,0.168,0.168", "age", "implausible age"),
]
# Synthea imaging rows planted after the subset's real one (a copy of it with a new study and
# series): (column replaced by an unknown id, loader field, quarantine reason).
IMAGING_PLANTED = [("PATIENT", "person_key", "unknown patient"), ("ENCOUNTER", "visit_key", "unknown encounter")]
LOADS = ("synthea-csv", "fhir", "dicom", "cxr-metadata")


@pytest.fixture(scope="module")
def settings(settings_factory):
    return settings_factory()


@dataclass(frozen=True)
class Warehouse:
    settings: object
    outcomes: dict  # source -> StageOutcome
    log: str
    inputs: dict  # source -> input folder
    cxr_file: Path
    fhir_bundles: list


def _cxr_slice(dst: Path) -> Path:
    src = shared_path("nih_chestxray14_metadata", "Data_Entry_2017_first40000rows.csv.gz")
    with gzip.open(src, "rt", encoding="utf-8") as fh:
        lines = [next(fh) for _ in range(CXR_ROWS + 1)]
    dst.mkdir(parents=True, exist_ok=True)
    out = dst / "Data_Entry_2017_slice.csv"
    out.write_text("".join(lines) + "\n".join(p[0] for p in CXR_PLANTED) + "\n" + lines[1], encoding="utf-8")
    # A second CSV of another layout in the same folder is skipped, not loaded.
    shutil.copy(shared_path("nih_chestxray14_metadata", "BBox_List_2017.csv"), dst / "BBox_List_2017.csv")
    return out


def _plant_imaging_rows(path: Path) -> None:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1, "the subset's patients have one imaging study"
    with open(path, "a", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        for i, (column, _, _) in enumerate(IMAGING_PLANTED, start=1):
            planted = dict(rows[0], Id=f"planted-study-{i}", SERIES_UID=f"{rows[0]['SERIES_UID']}.90{i}")
            planted[column] = f"planted-unknown-{column.lower()}"
            w.writerow(planted)


@pytest.fixture(scope="session")
def warehouse(spark, settings_factory, tmp_path_factory) -> Warehouse:
    from mlhops.pipelines.context import Context
    from mlhops.pipelines.orchestrate import run_stage
    from tests.spark.etl.conftest import etl_request

    root = tmp_path_factory.mktemp("sources-inputs")
    cxr_file = _cxr_slice(root / "cxr")
    src = shared_path("synthea_ma115", "fhir_r4")
    bundles = sorted(p for p in src.glob("*.json.gz") if "Information" not in p.name)[:FHIR_PATIENTS]
    (root / "fhir").mkdir()
    for p in bundles:
        shutil.copy(p, root / "fhir" / p.name)
    ids = {p.name[: -len(".json.gz")].rsplit("_", 1)[-1] for p in bundles}
    write_subset(shared_path("synthea_ma115", "csv"), root / "csv", ids)
    _plant_imaging_rows(root / "csv" / "imaging_studies.csv")
    inputs = {
        "synthea-csv": root / "csv", "fhir": root / "fhir",
        "dicom": shared_path("dicom_pydicom_test_files"), "cxr-metadata": root / "cxr",
    }
    settings = settings_factory(deid={"date_shift_max_days": 30})
    with captured_mlhops_log("%(levelname)s %(name)s %(message)s") as buf:
        ctx = Context.build(settings, spark)
        outcomes = {
            source: run_stage(ctx, "etl", etl_request(f"src-{source}", source, path))
            for source, path in inputs.items()
        }
    return Warehouse(settings, outcomes, buf.getvalue(), {k: Path(v) for k, v in inputs.items()}, cxr_file, bundles)
