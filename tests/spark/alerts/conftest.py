"""Fixtures of the alert-rule tests: warehouses written by the real stages that feed each rule
(the monitored UCI warehouse is the session fixture ``monitored`` of tests/conftest.py)."""

from __future__ import annotations

from tests.spark.stats.conftest import omop_warehouse  # noqa: F401  (session fixture: the OMOP export)
