"""The wheel is what a platform installs: built from this checkout, installed into a fresh virtual
environment, it runs from a folder outside the repository with the configuration it carries.

The fresh environment gets the wheel only (``--no-deps``); its other packages come from the
project's environment through a ``.pth`` line (a plain path, so the checkout's editable install of
mlhops is not picked up). The run starts Spark (``mlhops etl`` on the shipped Synthea sample), so
run it under the shared lock like any Spark test.
"""

from __future__ import annotations

import csv
import itertools
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.spark.etl.conftest import write_subset

pytestmark = pytest.mark.heavy

# What the build needs from the checkout (the wheel is built from a copy: no build/ left behind).
BUILD_INPUTS = ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "lib", "conf")
# Patients of the shipped sample the ETL loads: enough to write every OMOP table, few to keep it short.
SAMPLE_PATIENTS = 3
# Variables that would point the run back at the checkout or at the project's interpreter.
CHECKOUT_VARS = ("PYTHONPATH", "MLHOPS_CONF_DIR", "MLHOPS_CONF", "MLHOPS_WAREHOUSE", "PYSPARK_PYTHON",
                 "PYSPARK_DRIVER_PYTHON", "VIRTUAL_ENV")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    """A fresh venv holding the wheel built from this checkout, and a folder outside the repo."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in BUILD_INPUTS:
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(REPO / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(root / "dist"), str(src)], check=True, cwd=root)
    (wheel,) = (root / "dist").glob("mlhops-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                    str(wheel)], check=True)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "project_env.pth").write_text(sysconfig.get_path("purelib") + "\n")
    work = root / "work"
    work.mkdir()
    return {"venv": venv, "site": site, "work": work}


def _run(installed: dict[str, Path], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in CHECKOUT_VARS}
    return subprocess.run(list(args), cwd=installed["work"], env={**clean, **env}, capture_output=True,
                          text=True, timeout=600)


def test_the_wheel_imports_mlhops_and_its_defaults_from_the_install_not_the_checkout(installed):
    probe = (
        "import sys, mlhops; from mlhops.config.loader import repo_conf_dir; "
        "print(mlhops.__file__); print(repo_conf_dir()); "
        f"print(any(p.startswith({str(REPO / 'lib')!r}) for p in sys.path))"
    )
    out = _run(installed, str(installed["venv"] / "bin" / "python"), "-c", probe)
    assert out.returncode == 0, out.stderr
    module, conf, repo_on_path = out.stdout.split()
    assert Path(module).is_relative_to(installed["site"])
    assert Path(conf) == installed["site"] / "mlhops" / "_conf"
    assert repo_on_path == "False"
    for name in ("base.yaml", "alerts.yaml", "env/local.yaml", "env/databricks.yaml", "quality/completeness.yaml",
                 "features/labs.yaml", "models/readmission_30d.yaml"):
        assert (Path(conf) / name).is_file(), name


def test_the_console_script_runs_from_outside_the_repository(installed):
    out = _run(installed, str(installed["venv"] / "bin" / "mlhops"), "--help")
    assert out.returncode == 0, out.stderr
    for verb in ("etl", "quality", "stats", "nightly", "generate"):
        assert verb in out.stdout


def test_etl_runs_from_the_wheel_with_its_packaged_configuration(installed, tmp_path):
    warehouse, log = tmp_path / "wh", tmp_path / "etl.log"
    sample = REPO / "data" / "sample" / "synthea27_csv"
    with open(sample / "patients.csv", encoding="utf-8") as fh:
        first_patients = {row["Id"] for row in itertools.islice(csv.DictReader(fh), SAMPLE_PATIENTS)}
    source = write_subset(sample, tmp_path / "synthea", first_patients)
    out = _run(
        installed, str(installed["venv"] / "bin" / "mlhops"), "etl", "--source", "synthea-csv",
        "--input", str(source), "--warehouse", str(warehouse),
        "--conf", "local", "--run-id", "wheel-1", "--log-file", str(log),
        # The vocabulary is data, not configuration: an install points at its own copy.
        MLHOPS_VOCAB_DIR=str(REPO / "data" / "vocabulary"), MLFLOW_TRACKING_URI=(tmp_path / "mlruns").as_uri(),
    )
    text = log.read_text() if log.exists() else ""
    assert out.returncode == 0, out.stdout + out.stderr + text[-3000:]
    assert (warehouse / "omop" / "person" / "_delta_log").is_dir()
    lines = [line for line in text.splitlines() if " mlhops" in line]
    assert lines and all("[run wheel-1]" in line for line in lines)
    config_line = next(line for line in lines if "configuration:" in line)
    assert str(installed["site"] / "mlhops" / "_conf" / "base.yaml") in config_line
    assert str(REPO / "conf") not in config_line
