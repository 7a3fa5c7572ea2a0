"""Definition files beside the configuration: quality checks, feature definitions, model tasks,
alert rules.

Each is a YAML folder (``conf/quality``, ``conf/features``, ``conf/models``) or file
(``conf/alerts.yaml``) found the same way: the configured path if set, else the folder beside the
base configuration the settings were read from, else the repository's ``conf/``. Errors name the
file (and, through :func:`mlhops.config.binding.bind`, the entry and key).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from mlhops.config.binding import bind
from mlhops.config.loader import repo_conf_dir
from mlhops.errors import ConfigError

T = TypeVar("T")


def definitions_dir(sources: Sequence[str], configured: str | None, default_name: str) -> Path:
    """The folder of one kind of definition file.

    Args:
        sources: the files the settings were read from (``Settings.sources``), base first.
        configured: the folder set in the configuration (e.g. ``quality.checks_dir``), if any.
        default_name: the folder's name under ``conf/`` (e.g. ``"quality"``).

    Returns:
        ``configured`` if set; else ``<folder of sources[0]>/<default_name>``; else
        ``<repository conf>/<default_name>``.
    """
    if configured:
        return Path(configured)
    if sources:
        return Path(sources[0]).resolve().parent / default_name
    return repo_conf_dir() / default_name


def repo_path(path: str) -> Path:
    """A configured file path: as given when absolute or present, else relative to the repository
    root (the folder holding ``conf/``), e.g. ``alerts.rules_file = conf/alerts.yaml``."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    if p.parts[:1] == ("conf",):  # conf/... is the configuration folder, also when packaged
        return repo_conf_dir().joinpath(*p.parts[1:])
    return repo_conf_dir().parent / p


def read_yaml(path: Path, *, missing: str | None = None) -> Any:
    """The YAML document of ``path`` (``{}`` when empty).

    Args:
        path: the file.
        missing: the error to raise (after ``"<path>: "``) when the file does not exist; None lets
            ``FileNotFoundError`` through.

    Raises:
        ConfigError: invalid YAML, or a missing file when ``missing`` is given.
    """
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        if missing is None:
            raise
        raise ConfigError(f"{path}: {missing}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None


def yaml_files(directory: Path, what: str) -> list[Path]:
    """``*.yaml`` then ``*.yml`` files of ``directory``, each in name order.

    Raises:
        ConfigError: ``"<directory>: no <what> files (*.yaml)"`` when there is none.
    """
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    if not files:
        raise ConfigError(f"{directory}: no {what} files (*.yaml)")
    return files


def parse_list_file(path: Path, key: str, item: type[T]) -> list[T]:
    """The entries of one definition file: a mapping whose single key ``key`` holds a list, each
    entry bound to dataclass ``item``; errors name the file and entry (``<key>[<i>]``)."""
    data = read_yaml(path)
    if not isinstance(data, dict) or set(data) - {key}:
        raise ConfigError(f"{path}: top level must be a mapping with the single key '{key}'")
    items = data.get(key) or []
    if not isinstance(items, list):
        raise ConfigError(f"{path}: {key} must be a list")
    return [bind(item, entry, where=str(path), key=f"{key}[{i}]") for i, entry in enumerate(items)]


def load_yaml_folder(directory: Path, key: str, item: type[T], *, what: str) -> list[T]:
    """Every entry of every definition file of ``directory`` (files in name order, entries in
    file order); see :func:`yaml_files` and :func:`parse_list_file`.

    Args:
        directory: the folder (usually from :func:`definitions_dir`).
        key: the single top-level key of each file (``"checks"``, ``"features"``).
        item: the dataclass each entry binds to.
        what: the kind of file, for the "no files" error (``"quality check"``).
    """
    out: list[T] = []
    for path in yaml_files(directory, what):
        out.extend(parse_list_file(path, key, item))
    return out
