"""Session fixtures shared by the test packages under tests/spark.

Each shared Synthea CSV population goes through the ETL once per test session: ``synthea27``
(3.x layout) and ``ma115`` (2.x layout; the same patients also exist as FHIR R4 bundles, which
tests/spark/sources compares with this very run).
"""

from __future__ import annotations

import pytest

from tests.conftest import shared_path
from tests.spark.etl.conftest import SHIFT_DAYS, EtlRun, run_etl


@pytest.fixture(scope="session")
def synthea27(spark, settings_factory) -> EtlRun:
    settings = settings_factory()
    input_dir = shared_path("synthea27_csv")
    return EtlRun(settings, run_etl(spark, settings, input_dir, "run-27"), input_dir)


@pytest.fixture(scope="session")
def ma115(spark, settings_factory) -> EtlRun:
    settings = settings_factory(deid={"date_shift_max_days": SHIFT_DAYS})
    input_dir = shared_path("synthea_ma115", "csv")
    return EtlRun(settings, run_etl(spark, settings, input_dir, "run-115"), input_dir)
