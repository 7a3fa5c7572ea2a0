"""Shared fixtures: one local Spark session (Delta, UTC) per test run, temp warehouses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_DATA = SHARED / "data"


# Fixtures that read ../shared/data; tests that use one (directly or through another fixture) are
# marked `shared_data`, so `pytest tests/unit -m "not shared_data"` runs on a checkout alone.
SHARED_DATA_FIXTURES: set[str] = set()


def reads_shared_data(fixture_fn):
    """Register a fixture (decorate the function, under ``@pytest.fixture``) as reading ../shared."""
    SHARED_DATA_FIXTURES.add(fixture_fn.__name__)
    return fixture_fn


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SHARED_DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.shared_data)


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data; tests fail loudly when the shared data is absent."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        raise FileNotFoundError(f"shared test data missing: {p}")
    return p


@pytest.fixture(scope="session")
def settings_factory(tmp_path_factory):
    """Settings for a fresh temp warehouse; MLflow shares one SQLite store per test session
    (creating a store runs its schema migrations, which is too slow to repeat per test)."""
    from mlhops.config import load_settings
    from mlhops.config.loader import deep_merge

    mlflow_dir = tmp_path_factory.mktemp("mlflow")
    tracking = {
        "mlflow": {
            "tracking_uri": f"sqlite:///{mlflow_dir / 'mlflow.db'}",
            "artifact_location": (mlflow_dir / "artifacts").as_uri(),
        }
    }

    def make(warehouse: Path | None = None, **overrides):
        wh = warehouse or tmp_path_factory.mktemp("warehouse")
        merged = deep_merge(tracking, overrides)
        return load_settings("local", warehouse=str(wh), conf_dir=REPO / "conf", overrides=merged)

    return make


@pytest.fixture(scope="session")
def spark(settings_factory):
    from mlhops.spark import get_spark

    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)
    # One JVM serves the whole suite, with the plans, Delta logs and broadcasts of hundreds of
    # warehouses passing through it: 4 GB (a nightly's own setting) left it collecting garbage for
    # a large share of its time (2.3 GB live after 30 minutes, 108 full collections); 6 GB does not.
    settings = settings_factory(
        spark={"driver_memory": "6g",
               "conf": {"spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "2"}}
    )
    session = get_spark(settings)
    yield session
    session.stop()


@pytest.fixture(scope="module", autouse=True)
def _driver_memory_back_after_each_module(request):
    """One Spark session serves the whole suite, and tests run stages and ETLs directly, outside
    the orchestrator that frees their memory at each stage's end. DataFrames left in Python
    reference cycles keep their JVM plans alive until Python's full collection, which a process
    as big as the suite's runs rarely: measured, 2 GB of the 4 GB driver heap live after 54 min
    (catalyst trees: 2M long[] tree-pattern bit sets), the G1 collector marking without pause
    (690 s of CPU) and the suite at a fraction of its speed. So each module that used Spark ends
    with a Python collection (cheap; the JVM then frees the plans in its own time) and, when the
    module left its storage memory (broadcast tables, blocks) grown beyond a little, the full
    release of a stage's end. Growth, not the total, decides: the session-wide caches (Delta table
    states, cached fixtures) keep the total above any fixed line late in the suite, and then every
    module paid the full release (up to 5 s of Py4J wait and two JVM collections of a 6 GB heap),
    the Spark-free unit modules too (each took ~6 s at the end of a whole-suite run, whatever its
    tests: 2026-12-03)."""
    uses_spark = any("spark" in item.fixturenames for item in request.session.items
                     if item.module is request.module)
    from pyspark.sql import SparkSession

    from mlhops.pipelines.memory import collect_garbage, storage_memory_used

    active = SparkSession.getActiveSession() if uses_spark else None
    before = (storage_memory_used(active) or 0) if active is not None else 0
    yield
    if not uses_spark:
        return
    import gc

    gc.collect()
    active = SparkSession.getActiveSession()
    if active is None:
        return
    if (storage_memory_used(active) or 0) - before > 256 * 1024 * 1024:
        collect_garbage(active)


@pytest.fixture(scope="session")
@reads_shared_data
def monitored(spark, settings_factory, tmp_path_factory):
    """A UCI warehouse after the real nightly stages (tests/spark/models/monitored.py), built once
    per test session for the lifecycle, alert-rule, report and notebook tests."""
    from tests.spark.models.monitored import build

    return build(spark, settings_factory, tmp_path_factory.mktemp("monitored_uci"))


@pytest.fixture(scope="session")
def installed_wheel(tmp_path_factory):
    """The wheel built from this checkout, installed alone into a fresh venv (tests/support/wheel.py)."""
    from tests.support.wheel import install

    return install(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def sample_nightly(installed_wheel, tmp_path_factory):
    """The suite's classic nightly of the shipped sample, run from the installed wheel: the wheel
    tests check the install with it, the Spark Connect tests compare their nightly with it."""
    from tests.support.wheel import run_sample_nightly

    return run_sample_nightly(installed_wheel, tmp_path_factory.mktemp("sample_nightly"))
