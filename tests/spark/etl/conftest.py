"""ETL fixtures: each shared Synthea population goes through the ETL once per test session."""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

SHIFT_DAYS = 30


@dataclass
class EtlRun:
    """One ETL run: its settings (warehouse) and the stage result."""

    settings: object
    result: object
    input_dir: Path


def etl_request(run_id: str, source: str, input_dir: Path | str):
    from mlhops.pipelines.options import EtlOptions
    from mlhops.pipelines.stage import StageRequest

    return StageRequest(run_id=run_id, options=EtlOptions(source=source, input=str(input_dir)))


def run_etl(spark, settings, input_dir: Path, run_id: str, source: str = "synthea-csv"):
    """The ``etl`` stage itself (no orchestrator: no fingerprint skip, no runs row)."""
    from mlhops.pipelines import etl
    from mlhops.pipelines.context import Context

    return etl.run(Context.build(settings, spark), etl_request(run_id, source, input_dir))


def etl_env(spark, settings):
    """The ETL environment (catalog, de-identifier, etl settings) the stage builds for ``settings``."""
    from mlhops.etl.deid import Deidentifier
    from mlhops.etl.env import EtlEnv
    from mlhops.pipelines.context import Context

    ctx = Context.build(settings, spark)
    return EtlEnv(ctx.catalog, Deidentifier(ctx.hasher, settings.deid.date_shift_max_days), settings.etl)


def data_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# The session fixtures ``synthea27`` and ``ma115`` (one ETL run per shared population) live in
# tests/spark/conftest.py: the source tests (tests/spark/sources) compare with the same runs.


def write_subset(src: Path, dst: Path, patient_ids: set[str]) -> Path:
    """Copy a Synthea export keeping only the rows of ``patient_ids`` (reference files whole)."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.glob("*.csv")):
        with open(f, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            col = next((header.index(c) for c in ("PATIENT", "PATIENTID") if c in header), None)
            if f.stem == "patients":
                col = header.index("Id")
            rows = [r for r in reader if col is None or r[col] in patient_ids]
        with open(dst / f.name, "w", newline="", encoding="utf-8") as out:
            w = csv.writer(out, lineterminator="\n")
            w.writerow(header)
            w.writerows(rows)
    return dst


@pytest.fixture(scope="session")
def repo_vocabulary() -> Path:
    return REPO / "data" / "vocabulary"


@pytest.fixture
def fresh_copy(tmp_path):
    def make(src: Path) -> Path:
        dst = tmp_path / src.name
        shutil.copytree(src, dst)
        return dst

    return make
