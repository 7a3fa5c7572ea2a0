"""The session's monitored UCI warehouse (real stage output, tests/spark/models/monitored.py)."""

from __future__ import annotations

import pytest


@pytest.fixture()
def monitored(spark, settings_factory, tmp_path_factory):
    """The monitored warehouse after the real nightly stages (built once per test session)."""
    from tests.spark.models.monitored import monitored_warehouse

    return monitored_warehouse(spark, settings_factory, tmp_path_factory)
