"""Where the configuration comes from: $MLHOPS_CONF_DIR, ./conf, the checkout's conf/, and, for
an installed wheel (no checkout), the copy of conf/ it carries as the package ``mlhops._conf``."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from mlhops.config import load_settings, loader
from mlhops.config.definitions import repo_path
from mlhops.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def installed_elsewhere(tmp_path, monkeypatch) -> Path:
    """mlhops as a wheel would see it: no checkout around the module, conf/ in a package."""
    site = tmp_path / "site-packages"
    name = f"fake_mlhops_{uuid.uuid4().hex}"  # a fresh name: the import system caches packages
    package = site / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    shutil.copytree(REPO / "conf", package / "_conf")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(loader, "_CHECKOUT", site)  # the module's grandparents hold no checkout
    monkeypatch.setattr(loader, "PACKAGED_CONF", f"{name}._conf")
    monkeypatch.delenv("MLHOPS_CONF_DIR", raising=False)
    monkeypatch.delenv("MLHOPS_CONF", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return package / "_conf"


def test_a_checkout_reads_its_own_conf_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("MLHOPS_CONF_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert loader.repo_conf_dir() == REPO / "conf"


def test_conf_dir_variable_and_working_directory_win_over_the_checkout(tmp_path, monkeypatch):
    monkeypatch.setenv("MLHOPS_CONF_DIR", str(tmp_path / "mine"))
    assert loader.repo_conf_dir() == tmp_path / "mine"
    monkeypatch.delenv("MLHOPS_CONF_DIR")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "base.yaml").write_text("environment: local\n")
    monkeypatch.chdir(tmp_path)
    assert loader.repo_conf_dir() == tmp_path / "conf"


def test_an_install_without_a_checkout_loads_the_packaged_defaults(installed_elsewhere):
    settings = load_settings("local", warehouse="/tmp/wh")
    assert settings.sources == (str(installed_elsewhere / "base.yaml"), str(installed_elsewhere / "env" / "local.yaml"))
    assert settings.spark.master == "local[*]"


def test_packaged_rule_files_resolve_inside_the_package(installed_elsewhere):
    assert repo_path("conf/alerts.yaml") == installed_elsewhere / "alerts.yaml"
    assert repo_path("conf/alerts.yaml").is_file()


def test_relative_vocabulary_resolves_from_the_working_directory_when_installed(installed_elsewhere, monkeypatch):
    monkeypatch.setenv("MLHOPS_VOCAB_DIR", "vocab")
    settings = load_settings("local", warehouse="/tmp/wh")
    assert settings.etl.vocabulary_dir == str(Path.cwd() / "vocab")


def test_no_conf_anywhere_says_how_to_point_at_one(installed_elsewhere, monkeypatch):
    monkeypatch.setattr(loader, "PACKAGED_CONF", "no_such_package._conf")
    with pytest.raises(ConfigError, match="MLHOPS_CONF_DIR"):
        load_settings("local", warehouse="/tmp/wh")


def test_a_checkout_still_resolves_the_shipped_vocabulary(tmp_path, monkeypatch):
    monkeypatch.delenv("MLHOPS_VOCAB_DIR", raising=False)
    monkeypatch.delenv("MLHOPS_CONF_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = load_settings("local", warehouse="/tmp/wh")
    assert settings.etl.vocabulary_dir == str(REPO / "data" / "vocabulary")
