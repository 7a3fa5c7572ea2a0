from pathlib import Path

import pytest

from mlhops.config import load_settings
from mlhops.config.secrets import DEFAULT_DEV_SALT, resolve_salt
from mlhops.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]


def _conf_dir(tmp_path: Path, overlay: str, name: str = "test") -> Path:
    (tmp_path / "env").mkdir()
    (tmp_path / "base.yaml").write_text((REPO / "conf" / "base.yaml").read_text())
    (tmp_path / "env" / f"{name}.yaml").write_text(overlay)
    return tmp_path


def test_shipped_environments_validate(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "databricks")
    monkeypatch.setenv("MLHOPS_VOCAB_DIR", "/dbfs/vocab")
    for env in ("local", "cluster"):
        s = load_settings(env, warehouse="/tmp/wh", conf_dir=REPO / "conf")
        assert s.environment == env
        assert s.warehouse == "/tmp/wh"


def test_cluster_without_warehouse_fails_with_a_hint(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "databricks")
    monkeypatch.setenv("MLHOPS_VOCAB_DIR", "/dbfs/vocab")
    monkeypatch.delenv("MLHOPS_WAREHOUSE", raising=False)
    with pytest.raises(ConfigError, match="--warehouse"):
        load_settings("cluster", conf_dir=REPO / "conf")


def test_unknown_key_names_file_and_dotted_key(tmp_path):
    d = _conf_dir(tmp_path, "spark:\n  mastr: local[2]\n")
    with pytest.raises(ConfigError) as err:
        load_settings("test", conf_dir=d, warehouse="/tmp/wh")
    assert "spark.mastr" in str(err.value) and "test.yaml" in str(err.value)


def test_bad_value_type_is_rejected_with_key(tmp_path):
    d = _conf_dir(tmp_path, "etl:\n  max_quarantine_fraction: lots\n")
    with pytest.raises(ConfigError, match="etl.max_quarantine_fraction"):
        load_settings("test", conf_dir=d, warehouse="/tmp/wh")


def test_out_of_range_value_is_rejected(tmp_path):
    d = _conf_dir(tmp_path, "etl:\n  max_quarantine_fraction: 1.5\n")
    with pytest.raises(ConfigError, match="max_quarantine_fraction"):
        load_settings("test", conf_dir=d, warehouse="/tmp/wh")


def test_env_var_expansion_with_default_and_missing(tmp_path, monkeypatch):
    d = _conf_dir(tmp_path, "spark:\n  app_name: ${APPNAME:-fallback}\n")
    assert load_settings("test", conf_dir=d, warehouse="/w").spark.app_name == "fallback"
    monkeypatch.setenv("APPNAME", "nightly")
    assert load_settings("test", conf_dir=d, warehouse="/w").spark.app_name == "nightly"
    d2 = tmp_path / "two"
    d2.mkdir()
    _conf_dir(d2, "spark:\n  app_name: ${NOT_SET_ANYWHERE}\n")
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE"):
        load_settings("test", conf_dir=d2, warehouse="/w")


def test_warehouse_flag_beats_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("MLHOPS_WAREHOUSE", str(tmp_path / "from-env"))
    s = load_settings("local", conf_dir=REPO / "conf")
    assert s.warehouse == str(tmp_path / "from-env")
    s = load_settings("local", conf_dir=REPO / "conf", warehouse=str(tmp_path / "flag"))
    assert s.warehouse == str(tmp_path / "flag")


def test_default_salt_refused_outside_local(tmp_path, monkeypatch):
    d = _conf_dir(tmp_path, "environment: prod\ndeid:\n  allow_default_salt: true\n", name="prod")
    with pytest.raises(ConfigError, match="allow_default_salt"):
        load_settings("prod", conf_dir=d, warehouse="/w")
    d2 = tmp_path / "b"
    d2.mkdir()
    _conf_dir(d2, "environment: prod\n", name="prod")
    s = load_settings("prod", conf_dir=d2, warehouse="/w")
    monkeypatch.delenv("MLHOPS_DEID_SALT", raising=False)
    with pytest.raises(ConfigError, match="salt"):
        resolve_salt(s)
    monkeypatch.setenv("MLHOPS_DEID_SALT", DEFAULT_DEV_SALT)
    with pytest.raises(ConfigError, match="development salt"):
        resolve_salt(s)
    monkeypatch.setenv("MLHOPS_DEID_SALT", "a-real-secret")
    assert resolve_salt(s) == "a-real-secret"


def test_local_demo_uses_development_salt_without_secret(monkeypatch):
    monkeypatch.delenv("MLHOPS_DEID_SALT", raising=False)
    s = load_settings("local", conf_dir=REPO / "conf", warehouse="/w")
    assert resolve_salt(s) == DEFAULT_DEV_SALT


def test_a_salt_variable_set_but_empty_is_refused_even_where_the_development_salt_is_allowed(monkeypatch):
    s = load_settings("local", conf_dir=REPO / "conf", warehouse="/w")
    for empty in ("", "  "):
        monkeypatch.setenv("MLHOPS_DEID_SALT", empty)
        with pytest.raises(ConfigError, match="set but empty"):
            resolve_salt(s)


def test_dates_are_shifted_by_default_and_exact_dates_need_an_explicit_choice_outside_local(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "databricks")
    monkeypatch.setenv("MLHOPS_VOCAB_DIR", "/dbfs/vocab")
    assert load_settings("cluster", warehouse="/w", conf_dir=REPO / "conf").deid.date_shift_max_days == 30
    assert load_settings("local", warehouse="/w", conf_dir=REPO / "conf").deid.date_shift_max_days == 0
    off = _conf_dir(tmp_path, "environment: prod\ndeid:\n  date_shift_max_days: 0\n", name="prod")
    with pytest.raises(ConfigError, match="exact visit, birth and death dates"):
        load_settings("prod", conf_dir=off, warehouse="/w")
    allowed = tmp_path / "b"
    allowed.mkdir()
    _conf_dir(allowed, "environment: prod\ndeid:\n  date_shift_max_days: 0\n  allow_exact_dates: true\n", name="prod")
    assert load_settings("prod", conf_dir=allowed, warehouse="/w").deid.date_shift_max_days == 0
