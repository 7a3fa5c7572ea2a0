"""Fixtures of the feature tests: the shared OMOP export as Delta tables (built once)."""

from __future__ import annotations

import shutil

import pytest

from tests.spark.stats.conftest import omop_warehouse  # noqa: F401  (session fixture, shared)


@pytest.fixture()
def omop_copy(omop_warehouse, tmp_path):  # noqa: F811
    """A private warehouse with a copy of the export's OMOP tables, free to modify."""
    shutil.copytree(omop_warehouse / "omop", tmp_path / "omop")
    return tmp_path
