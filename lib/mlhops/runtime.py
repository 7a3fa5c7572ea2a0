"""The notebooks' entry point: parameters, display and the run context, on Databricks and locally."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from mlhops.config.secrets import dbutils as _dbutils
from mlhops.config.secrets import is_databricks

if TYPE_CHECKING:
    from mlhops.pipelines.context import Context


def param(name: str, default: str, *, label: str | None = None) -> str:
    """A notebook parameter: a text widget on Databricks, else $MLHOPS_PARAM_<NAME>, else default."""
    dbutils = _dbutils() if is_databricks() else None
    if dbutils is not None:
        dbutils.widgets.text(name, default, label or name)
        return str(dbutils.widgets.get(name))
    return os.environ.get(f"MLHOPS_PARAM_{name.upper()}", default)


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


def notebook_session() -> Context:
    """The run context of a notebook, from its ``conf`` and ``warehouse`` parameters.

    Every notebook starts with this (it is the notebooks' entry point, as the CLI is the
    command line's), so they all read their environment the same way.
    """
    from mlhops.config import load_settings
    from mlhops.pipelines.context import Context

    settings = load_settings(param("conf", "local"), warehouse=param("warehouse", "") or None)
    return Context.build(settings)
