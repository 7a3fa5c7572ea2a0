"""Fixtures of the alert-rule tests: warehouses written by the real stages that feed each rule."""

from __future__ import annotations

import pytest


@pytest.fixture()
def monitored(spark, settings_factory, tmp_path_factory):
    """The session's monitored UCI warehouse after the real nightly stages (tests/spark/models/monitored.py)."""
    from tests.spark.models.monitored import monitored_warehouse

    return monitored_warehouse(spark, settings_factory, tmp_path_factory)


from tests.spark.stats.conftest import omop_warehouse  # noqa: E402,F401  (session fixture: the OMOP export)
