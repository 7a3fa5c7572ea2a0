"""``etl.inputs``: a source reads one export folder, or a list of them loaded in order."""

from pathlib import Path

import pytest

from mlhops.config import load_settings
from mlhops.errors import ConfigError
from mlhops.etl.inputs import input_paths

REPO = Path(__file__).resolve().parents[3]


def _settings(tmp_path: Path, inputs_yaml: str):
    (tmp_path / "env").mkdir()
    (tmp_path / "base.yaml").write_text((REPO / "conf" / "base.yaml").read_text())
    (tmp_path / "env" / "local.yaml").write_text(
        "environment: local\ndeid:\n  allow_default_salt: true\netl:\n  inputs:\n" + inputs_yaml
    )
    return load_settings("local", conf_dir=tmp_path, warehouse=str(tmp_path / "wh"))


def test_one_folder_is_still_a_string_and_reads_as_a_list_of_one(tmp_path):
    etl = _settings(tmp_path, "    synthea-csv: /data/site-a\n").etl
    assert etl.inputs["synthea-csv"] == "/data/site-a"
    assert input_paths(etl, "synthea-csv", None) == ["/data/site-a"]


def test_a_list_of_folders_keeps_its_order(tmp_path):
    etl = _settings(tmp_path, "    synthea-csv:\n      - /data/site-b\n      - /data/site-a\n").etl
    assert input_paths(etl, "synthea-csv", None) == ["/data/site-b", "/data/site-a"]


def test_an_input_given_on_the_command_line_replaces_the_configured_list(tmp_path):
    etl = _settings(tmp_path, "    synthea-csv: [/data/site-a, /data/site-b]\n").etl
    assert input_paths(etl, "synthea-csv", "/elsewhere") == ["/elsewhere"]


def test_relative_folders_resolve_against_the_repository(tmp_path):
    etl = _settings(tmp_path, "    synthea-csv: [data/sample/synthea27_csv]\n").etl
    assert input_paths(etl, "synthea-csv", None) == [str(REPO / "data" / "sample" / "synthea27_csv")]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{site: /data/a}", r"local\.yaml: etl\.inputs\.synthea-csv must be a string or a list of strings, got \{"),
        ("[{site: /data/a}]", r"etl\.inputs\.synthea-csv\[0\] must be a string"),
        ("[]", r"etl: inputs\.synthea-csv must be a folder or a non-empty list of folders"),
        ("[/data/a, '']", r"etl: inputs\.synthea-csv must be a folder or a non-empty list of folders"),
    ],
)
def test_anything_else_is_a_configuration_error_naming_file_and_key(tmp_path, value, message):
    with pytest.raises(ConfigError, match=message):
        _settings(tmp_path, f"    synthea-csv: {value}\n")
