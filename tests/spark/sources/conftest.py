"""Fixtures of the FHIR/DICOM/imaging/OMOP-export source tests."""

from __future__ import annotations

import os

import pytest

# Tests use their own salt; never the development default.
os.environ.setdefault("MLHOPS_DEID_SALT", "tests-sources-salt")


@pytest.fixture(scope="module")
def settings(settings_factory):
    return settings_factory()
