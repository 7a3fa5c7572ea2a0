"""Load ``conf/base.yaml`` + overlay, expand ``${VAR}`` / ``${VAR:-default}``, validate."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import yaml

from mlhops.config.binding import bind
from mlhops.config.model import Settings
from mlhops.errors import ConfigError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


# The checkout this module runs from, when it runs from one (lib/mlhops/config/loader.py).
_CHECKOUT = Path(__file__).resolve().parents[3]
# The package the wheel ships the default configuration in (conf/ mapped by setup.cfg).
PACKAGED_CONF = "mlhops._conf"


def checkout_conf_dir() -> Path | None:
    """The repository's ``conf/`` when mlhops runs from a checkout (not from an installed wheel)."""
    conf = _CHECKOUT / "conf"
    inside_checkout = (_CHECKOUT / "lib" / "mlhops").is_dir()
    return conf if inside_checkout and (conf / "base.yaml").is_file() else None


def packaged_conf_dir() -> Path:
    """The default configuration shipped in the wheel (``mlhops._conf``, found by the import
    system as any installed package is).

    Raises:
        ConfigError: the package is missing (a checkout without an install, a broken wheel).
    """
    from importlib.util import find_spec

    # conf/ has no __init__.py, so the package is a namespace package: its folder is its
    # search location (importlib.resources.files would give a MultiplexedPath, not a folder).
    try:
        spec = find_spec(PACKAGED_CONF)
    except ModuleNotFoundError:
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ConfigError(
            f"no configuration found: no ./conf, no $MLHOPS_CONF_DIR and no packaged {PACKAGED_CONF}; "
            "reinstall mlhops or set MLHOPS_CONF_DIR"
        )
    path = Path(locations[0])
    if not (path / "base.yaml").is_file():
        raise ConfigError(f"{path}: packaged configuration has no base.yaml; reinstall mlhops")
    return path


def repo_conf_dir() -> Path:
    """The conf/ directory: $MLHOPS_CONF_DIR, ./conf, the checkout's conf/, else the wheel's."""
    env = os.environ.get("MLHOPS_CONF_DIR")
    if env:
        return Path(env)
    cwd = Path.cwd() / "conf"
    if (cwd / "base.yaml").is_file():
        return cwd
    return checkout_conf_dir() or packaged_conf_dir()


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def _expand(value: Any, *, where: str, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _expand(v, where=where, key=f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, where=where, key=f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise ConfigError(f"{where}: {key} references ${{{name}}}, which is not set")

        expanded = _VAR.sub(repl, value)
        return None if expanded == "" and _VAR.fullmatch(value) else expanded
    return value


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge ``overlay`` into a copy of ``base`` (overlay wins, lists replace)."""
    out = copy.deepcopy(base)
    for k, v in overlay.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def resolve_overlay(conf: str | None, conf_dir: Path) -> Path | None:
    """``--conf`` may be a file path or an environment name (``conf/env/<name>.yaml``)."""
    conf = conf or os.environ.get("MLHOPS_CONF")
    if not conf:
        default = conf_dir / "env" / "local.yaml"
        return default if default.is_file() else None
    path = Path(conf)
    if path.suffix in (".yaml", ".yml"):
        return path
    return conf_dir / "env" / f"{conf}.yaml"


def load_settings(
    conf: str | None = None,
    *,
    warehouse: str | None = None,
    conf_dir: Path | str | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Load and validate the settings.

    Args:
        conf: overlay file or environment name; defaults to $MLHOPS_CONF, then ``local``.
        warehouse: warehouse root; wins over $MLHOPS_WAREHOUSE and the YAML.
        conf_dir: directory holding ``base.yaml`` (default: see :func:`repo_conf_dir`).
        overrides: extra nested values merged last (tests, notebooks).
    """
    cdir = Path(conf_dir) if conf_dir else repo_conf_dir()
    base_path = cdir / "base.yaml"
    files = [base_path]
    merged = _expand(_read_yaml(base_path), where=str(base_path))
    overlay_path = resolve_overlay(conf, cdir)
    if overlay_path is not None:
        files.append(overlay_path)
        merged = deep_merge(merged, _expand(_read_yaml(overlay_path), where=str(overlay_path)))
    if overrides:
        merged = deep_merge(merged, overrides)
    if warehouse:
        merged["warehouse"] = warehouse
    where_files = " + ".join(str(f) for f in files)
    if not merged.get("warehouse"):
        raise ConfigError(f"{where_files}: warehouse is not set: pass --warehouse DIR or set $MLHOPS_WAREHOUSE")
    where = " + ".join(str(f) for f in files)
    settings = bind(Settings, merged, where=where)
    settings = _absolutize(settings)
    object.__setattr__(settings, "sources", tuple(str(f) for f in files))
    _check_deid(settings, where)
    return settings


def _absolutize(settings: Settings) -> Settings:
    """Local paths become absolute so Spark executors and MLflow agree on them."""
    import dataclasses

    wh = settings.warehouse
    if "://" not in wh and not wh.startswith("dbfs:"):
        wh = str(Path(wh).expanduser().resolve())
    vocab = settings.etl.vocabulary_dir
    if "://" not in vocab:
        p = Path(vocab).expanduser()
        if not p.is_absolute():
            # data/... in the defaults is the checkout's; an installed wheel resolves from the
            # working directory (point etl.vocabulary_dir or $MLHOPS_VOCAB_DIR at the vocabulary).
            in_checkout = checkout_conf_dir() is not None and (_CHECKOUT / p).exists()
            p = (_CHECKOUT / p) if in_checkout and not (Path.cwd() / p).exists() else (Path.cwd() / p)
        vocab = str(p.resolve())
    etl = dataclasses.replace(settings.etl, vocabulary_dir=vocab)
    return dataclasses.replace(settings, warehouse=wh, etl=etl)


def _check_deid(settings: Settings, where: str) -> None:
    deid = settings.deid
    if deid.allow_default_salt and not settings.is_local:
        raise ConfigError(
            f"{where}: deid.allow_default_salt is only allowed in the local environment "
            f"(environment is {settings.environment!r})"
        )
    if deid.date_shift_max_days == 0 and not settings.is_local and not deid.allow_exact_dates:
        raise ConfigError(
            f"{where}: deid.date_shift_max_days is 0, so exact visit, birth and death dates would leave the raw "
            f"zone (environment {settings.environment!r}); set it above 0 (default 30), or set "
            "deid.allow_exact_dates: true where your governance allows exact dates"
        )
