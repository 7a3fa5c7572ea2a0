"""Each Databricks-format notebook runs end to end locally on the demo warehouse."""

import runpy
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def test_notebooks_are_in_databricks_source_format():
    for nb in sorted(NOTEBOOKS.glob("*.py")):
        text = nb.read_text(encoding="utf-8")
        assert text.startswith("# Databricks notebook source\n"), nb.name
        assert "# COMMAND ----------" in text and "# MAGIC %md" in text, nb.name
        assert "dbutils" not in text, f"{nb.name}: parameters go through mlhops.runtime.param"


@pytest.mark.parametrize(
    "name,params",
    [
        ("explore_drift_alert.py", {}),
        ("compare_windows.py", {"GRANULARITY": "month"}),
        ("backfill.py", {"STAGES": "stats,alerts"}),
        ("promote_or_rollback.py", {"ACTION": "compare"}),
    ],
)
def test_notebook_runs_locally(name, params, demo_warehouse, monkeypatch, capsys):
    monkeypatch.setenv("MLHOPS_PARAM_WAREHOUSE", str(demo_warehouse["warehouse"]))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", demo_warehouse["settings"].mlflow.tracking_uri)
    for k, v in params.items():
        monkeypatch.setenv(f"MLHOPS_PARAM_{k}", v)
    runpy.run_path(str(NOTEBOOKS / name), run_name="__main__")
    out = capsys.readouterr().out
    assert out.strip(), f"{name} printed nothing"
