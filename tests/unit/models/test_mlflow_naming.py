"""Registered model names by registry, the settings that allow them, and window series steps."""

from __future__ import annotations

import datetime as dt

import pytest

from mlhops.config.model import MlflowSettings
from mlhops.errors import ConfigError
from mlhops.tracking.naming import registered_model_name
from mlhops.tracking.series import step_of, timestamp_of

UC = MlflowSettings(tracking_uri="databricks", registry_uri="databricks-uc", uc_catalog="prod", uc_schema="clinical_ml")


def test_a_local_or_workspace_registry_keeps_the_task_name():
    assert registered_model_name(MlflowSettings(), "uci_readmission") == "uci_readmission"
    assert registered_model_name(MlflowSettings(registry_uri="databricks"), "uci_readmission") == "uci_readmission"


def test_unity_catalog_names_models_catalog_schema_model():
    assert registered_model_name(UC, "uci_readmission") == "prod.clinical_ml.uci_readmission"
    profile = MlflowSettings(registry_uri="databricks-uc://dev", uc_catalog="dev", uc_schema="ml")
    assert registered_model_name(profile, "uci_readmission") == "dev.ml.uci_readmission"


def test_unity_catalog_keeps_an_already_qualified_name_and_refuses_a_two_level_one():
    assert registered_model_name(UC, "other.schema.model") == "other.schema.model"
    with pytest.raises(ConfigError, match="catalog.schema.model"):
        registered_model_name(UC, "schema.model")
    with pytest.raises(ConfigError, match="empty"):
        registered_model_name(UC, "prod..model")


def test_a_unity_catalog_registry_needs_catalog_and_schema():
    with pytest.raises(ValueError, match="uc_catalog and uc_schema"):
        MlflowSettings(registry_uri="databricks-uc", uc_catalog="prod")
    with pytest.raises(ValueError, match="identifier"):
        MlflowSettings(registry_uri="databricks-uc", uc_catalog="prod", uc_schema="a.b")


def test_the_databricks_environment_loads_with_three_level_names(tmp_path, monkeypatch):
    from mlhops.config.loader import load_settings

    monkeypatch.setenv("MLHOPS_DEID_SALT_SECRET", "scope/key")
    monkeypatch.setenv("MLHOPS_VOCAB_DIR", "/dbfs/vocab")
    monkeypatch.setenv("MLHOPS_UC_CATALOG", "prod")
    monkeypatch.delenv("MLHOPS_UC_SCHEMA", raising=False)
    settings = load_settings("databricks", warehouse=str(tmp_path))
    assert registered_model_name(settings.mlflow, "uci_readmission") == "prod.mlhops.uci_readmission"


def test_window_steps_order_windows_by_start_and_timestamps_are_utc_midnight():
    weeks = [dt.date(2024, 1, 1), dt.date(2024, 1, 8), dt.date(2024, 2, 5)]
    assert [step_of(d) for d in weeks] == sorted(step_of(d) for d in weeks)
    assert step_of(weeks[1]) - step_of(weeks[0]) == 7
    assert timestamp_of(dt.date(2024, 1, 1)) == 1_704_067_200_000


def test_a_window_before_1970_is_stamped_at_the_epoch_and_still_ordered_by_its_step():
    # MLflow refuses negative timestamps; historic extracts (the demo's Synthea histories) hold such windows.
    old, later = dt.date(1929, 1, 1), dt.date(1969, 12, 29)
    assert timestamp_of(old) == timestamp_of(later) == 0
    assert step_of(old) < step_of(later) < step_of(dt.date(1970, 1, 5))
