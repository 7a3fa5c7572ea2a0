"""Definition files beside the configuration: where they are found, how a folder is read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from mlhops.config.definitions import definitions_dir, load_yaml_folder, read_yaml, repo_path
from mlhops.config.loader import repo_conf_dir
from mlhops.errors import ConfigError


@dataclass(frozen=True)
class Item:
    name: str
    size: int = 1


def test_configured_folder_wins_then_the_folder_beside_the_base_file_then_the_repo_conf(tmp_path):
    base = tmp_path / "conf" / "base.yaml"
    assert definitions_dir([str(base)], str(tmp_path / "mine"), "quality") == tmp_path / "mine"
    assert definitions_dir([str(base)], None, "quality") == (tmp_path / "conf").resolve() / "quality"
    assert definitions_dir([], None, "quality") == repo_conf_dir() / "quality"


def test_repo_path_keeps_absolute_paths_and_resolves_relative_ones_under_the_repository(tmp_path):
    assert repo_path(str(tmp_path / "rules.yaml")) == tmp_path / "rules.yaml"
    assert repo_path("no/such/dir/alerts.yaml") == repo_conf_dir().parent / "no/such/dir/alerts.yaml"


def test_folder_entries_come_in_file_name_order_then_file_order(tmp_path):
    (tmp_path / "b.yaml").write_text("items:\n  - {name: c}\n")
    (tmp_path / "a.yaml").write_text("items:\n  - {name: a, size: 2}\n  - {name: b}\n")
    (tmp_path / "z.yml").write_text("items: []\n")
    (tmp_path / "notes.txt").write_text("ignored")
    got = load_yaml_folder(tmp_path, "items", Item, what="thing")
    assert got == [Item("a", 2), Item("b"), Item("c")]


def test_an_empty_folder_is_refused_naming_the_kind_of_file(tmp_path):
    with pytest.raises(ConfigError, match=r"no thing files \(\*\.yaml\)"):
        load_yaml_folder(tmp_path, "items", Item, what="thing")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("items: [\n", "invalid YAML"),
        ("other: []\n", "single key 'items'"),
        ("items: {name: a}\n", "items must be a list"),
        ("items:\n  - {name: a, colour: red}\n", r"unknown key\(s\) items\[0\]\.colour"),
    ],
)
def test_malformed_files_are_refused_naming_the_file(tmp_path, text, message):
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_yaml_folder(tmp_path, "items", Item, what="thing")
    assert "bad.yaml" in str(err.value)


def test_read_yaml_turns_a_missing_file_into_the_given_error(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="nope.yaml: rules file not found"):
        read_yaml(missing, missing="rules file not found")
    with pytest.raises(FileNotFoundError):
        read_yaml(missing)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert read_yaml(empty) == {}


def test_shipped_conf_folders_exist():
    for name in ("quality", "features", "models"):
        assert definitions_dir([], None, name).is_dir(), name
    assert isinstance(repo_path("conf/alerts.yaml"), Path)
    assert repo_path("conf/alerts.yaml").is_file()
