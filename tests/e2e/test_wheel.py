"""The wheel is what a platform installs: built from this checkout, installed into a fresh virtual
environment, it runs from a folder outside the repository with the configuration it carries.

The nightly here is the suite's classic nightly of the shipped sample (``sample_nightly``,
tests/support/wheel.py): every stage, run by the installed console script.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlhops.io import Catalog, read_table
from mlhops.io.tables.core import RUNS
from mlhops.pipelines import nightly_stages
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_the_wheel_imports_mlhops_and_its_defaults_from_the_install_not_the_checkout(installed_wheel):
    probe = (
        "import sys, mlhops; from mlhops.config.loader import repo_conf_dir; "
        "print(mlhops.__file__); print(repo_conf_dir()); "
        f"print(any(p.startswith({str(REPO / 'lib')!r}) for p in sys.path))"
    )
    out = installed_wheel.run(str(installed_wheel.python), "-c", probe)
    assert out.returncode == 0, out.stderr
    module, conf, repo_on_path = out.stdout.split()
    assert Path(module).is_relative_to(installed_wheel.site)
    assert Path(conf) == installed_wheel.site / "mlhops" / "_conf"
    assert repo_on_path == "False"
    for name in ("base.yaml", "alerts.yaml", "env/local.yaml", "env/databricks.yaml", "quality/completeness.yaml",
                 "features/labs.yaml", "models/readmission_30d.yaml"):
        assert (Path(conf) / name).is_file(), name


def test_the_console_script_runs_from_outside_the_repository(installed_wheel):
    out = installed_wheel.run(str(installed_wheel.mlhops), "--help")
    assert out.returncode == 0, out.stderr
    for verb in ("etl", "quality", "stats", "nightly", "generate"):
        assert verb in out.stdout


def test_the_nightly_runs_every_stage_from_the_wheel(sample_nightly, spark):
    assert sample_nightly.result.returncode == 0, sample_nightly.failure()  # --exit-code-on-alerts 0
    runs = read_table(spark, Catalog(str(sample_nightly.warehouse)), RUNS)
    statuses = {r.stage: r.status for r in runs.where(f"run_id = '{sample_nightly.run_id}'").collect()}
    assert set(statuses) == set(nightly_stages())
    assert not {s: st for s, st in statuses.items() if st == "failed"}
    # the sample's revisit task trains, scores and evaluates: every stage did its work
    assert not {s: st for s, st in statuses.items() if st == "skipped"}


def test_the_nightly_reads_the_configuration_the_wheel_carries(sample_nightly, installed_wheel):
    lines = [line for line in sample_nightly.log.read_text(encoding="utf-8").splitlines() if " mlhops" in line]
    assert lines and all(f"[run {sample_nightly.run_id}]" in line for line in lines)
    config_line = next(line for line in lines if "configuration:" in line)
    assert str(installed_wheel.site / "mlhops" / "_conf" / "base.yaml") in config_line
    assert str(REPO / "conf") not in config_line
