"""The wheel as a platform installs it, and the classic nightly run from it.

:func:`install` builds the wheel from a copy of this checkout and installs it into a fresh virtual
environment. The fresh environment gets the wheel only (``--no-deps``); its other packages come
from the project's environment through a ``.pth`` line (a plain path, so the checkout's editable
install of mlhops is not picked up).

:func:`run_sample_nightly` runs ``mlhops nightly`` from that install, in a folder outside the
repository, on the shipped 27-patient sample with the fault-injection harness's overlay (the
revisit task and monthly statistics, so that every stage has work). It is the suite's one classic
nightly of the sample: the wheel tests check the install with it, and the Spark Connect tests
compare the Connect nightly's tables with its tables (same overlay, same run id).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO
from tests.support.fault_injection import SAMPLE_INPUT, overlay

# What the build needs from the checkout (the wheel is built from a copy: no build/ left behind).
BUILD_INPUTS = ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "lib", "conf")
# Variables that would point the run back at the checkout or at the project's interpreter; the
# MLflow store goes under the warehouse (the CLI's default), as in the harness's runs.
CHECKOUT_VARS = ("PYTHONPATH", "MLHOPS_CONF_DIR", "MLHOPS_CONF", "MLHOPS_WAREHOUSE", "PYSPARK_PYTHON",
                 "PYSPARK_DRIVER_PYTHON", "VIRTUAL_ENV", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI",
                 "MLHOPS_ALERT_WEBHOOK")
# The run id of the sample's classic nightly (the Connect nightly uses it too: rows carry it).
SAMPLE_RUN_ID = "sample-nightly"


@dataclass(frozen=True)
class Installed:
    """A fresh venv holding the wheel, its site-packages, and a working folder outside the repo."""

    venv: Path
    site: Path
    work: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def mlhops(self) -> Path:
        return self.venv / "bin" / "mlhops"

    def run(self, *args: str, timeout: int = 900, **env: str) -> subprocess.CompletedProcess[str]:
        """A command in the working folder, without the checkout's variables."""
        clean = {k: v for k, v in os.environ.items() if k not in CHECKOUT_VARS}
        return subprocess.run(list(args), cwd=self.work, env={**clean, **env}, capture_output=True, text=True,
                              timeout=timeout)


@dataclass(frozen=True)
class SampleNightly:
    """What ``mlhops nightly`` from the wheel left: exit code, output, warehouse, overlay, log."""

    result: subprocess.CompletedProcess[str]
    warehouse: Path
    conf: Path
    log: Path
    run_id: str = SAMPLE_RUN_ID

    def failure(self) -> str:
        """The run's output and the end of its log, for an assertion message."""
        text = self.log.read_text(encoding="utf-8") if self.log.exists() else ""
        return self.result.stdout + self.result.stderr[-3000:] + text[-3000:]


def install(root: Path) -> Installed:
    """Build the wheel from a copy of the checkout and install it alone into ``root/venv``."""
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
    return Installed(venv, site, work)


def run_sample_nightly(installed: Installed, root: Path) -> SampleNightly:
    """``mlhops nightly`` from the install on an empty warehouse under ``root``."""
    # the harness's overlay on the shipped sample, without drift slices (the Connect nightly reuses it)
    conf = overlay(root / "site.yaml", {"etl": {"inputs": {"synthea-csv": str(SAMPLE_INPUT)}}, "drift": {"slices": []}})
    warehouse, log = root / "warehouse", root / "nightly.log"
    result = installed.run(
        str(installed.mlhops), "nightly", "--warehouse", str(warehouse), "--conf", str(conf),
        "--run-id", SAMPLE_RUN_ID, "--log-file", str(log), "--exit-code-on-alerts", "0",
        # The vocabulary is data, not configuration: an install points at its own copy.
        MLHOPS_VOCAB_DIR=str(REPO / "data" / "vocabulary"),
    )
    return SampleNightly(result, warehouse, conf, log)
