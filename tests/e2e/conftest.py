"""One full nightly run on the shipped sample population, shared by the end-to-end tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def demo_warehouse(spark, tmp_path_factory, settings_factory):
    """Warehouse after `mlhops nightly` on data/sample, run twice; yields (settings, exit codes, versions)."""
    from mlhops.cli import main
    from mlhops.io import Catalog, table_version

    wh = tmp_path_factory.mktemp("demo-warehouse")
    settings = settings_factory(warehouse=wh)
    mlflow_uri = settings.mlflow.tracking_uri
    argv = ["nightly", "--warehouse", str(wh), "--conf", "local"]
    import os

    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = mlflow_uri  # the CLI loads its own settings
    try:
        first = main([*argv, "--run-id", "demo-1"])
        cat = Catalog(str(wh))
        tables = sorted(p.parent.name + "." + p.name for p in wh.glob("*/*") if (p / "_delta_log").is_dir())
        versions_after_first = {t: table_version(spark, cat, t) for t in tables}
        second = main([*argv, "--run-id", "demo-2"])
        versions_after_second = {t: table_version(spark, cat, t) for t in tables}
    finally:
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old
    return {
        "settings": settings,
        "warehouse": wh,
        "exit_codes": (first, second),
        "versions": (versions_after_first, versions_after_second),
    }
