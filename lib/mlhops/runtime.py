"""Where are we running? Notebook parameters and secrets that work on Databricks and locally."""

from __future__ import annotations

import os
import sys
from typing import Any

from mlhops.errors import ConfigError


def is_databricks() -> bool:
    """True inside a Databricks runtime (notebook or job)."""
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


def _dbutils() -> Any:
    main = sys.modules.get("__main__")
    dbutils = getattr(main, "dbutils", None)
    if dbutils is None:
        try:
            from pyspark.dbutils import DBUtils  # type: ignore[import-not-found]
            from pyspark.sql import SparkSession

            dbutils = DBUtils(SparkSession.getActiveSession())
        except Exception:  # noqa: BLE001 - not on Databricks
            return None
    return dbutils


def param(name: str, default: str, *, label: str | None = None) -> str:
    """A notebook parameter: a text widget on Databricks, else $MLHOPS_PARAM_<NAME>, else default."""
    dbutils = _dbutils() if is_databricks() else None
    if dbutils is not None:
        dbutils.widgets.text(name, default, label or name)
        return str(dbutils.widgets.get(name))
    return os.environ.get(f"MLHOPS_PARAM_{name.upper()}", default)


def read_secret(reference: str) -> str:
    """Read a secret given as ``scope/key`` (Databricks secret scope) or ``env:VAR``."""
    if reference.startswith("env:"):
        var = reference[4:]
        value = os.environ.get(var)
        if not value:
            raise ConfigError(f"secret {reference}: environment variable {var} is not set")
        return value
    scope, _, key = reference.partition("/")
    dbutils = _dbutils()
    if dbutils is None or not key:
        raise ConfigError(f"secret {reference}: needs Databricks dbutils and the form scope/key")
    return str(dbutils.secrets.get(scope=scope, key=key))


def show(obj: Any, title: str | None = None) -> None:
    """``display`` on Databricks; a plain-text print locally (pandas or Spark DataFrames)."""
    main = sys.modules.get("__main__")
    display = getattr(main, "display", None) if is_databricks() else None
    if display is not None:
        display(obj)
        return
    if title:
        print(f"\n== {title}")
    to_string = getattr(obj, "to_string", None)
    if callable(to_string):
        print(to_string(max_rows=60, max_cols=20))
    elif hasattr(obj, "show"):
        obj.show(40, truncate=False)
    else:
        print(obj)


def notebook_session() -> tuple[Any, Any]:
    """Settings and Spark for a notebook, from the ``conf`` and ``warehouse`` parameters.

    Every notebook starts with this, so they all read their environment the same way.
    """
    from mlhops.config import load_settings
    from mlhops.spark import get_spark

    settings = load_settings(param("conf", "local"), warehouse=param("warehouse", "") or None)
    return settings, get_spark(settings)
