"""The entry points' runtime: notebook parameters, display and run context; the run id on every
log line; the outcome handed to the launcher (Databricks task values), on Databricks and locally."""

from __future__ import annotations

import logging
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


# Every log line names its run, so the lines of one nightly run can be picked out of a shared log.
LOG_FORMAT = "%(asctime)s %(levelname)s [run %(run_id)s] %(name)s: %(message)s"
# Records logged before a run id is known (or by another process's logging).
NO_RUN = "-"


class RunIdFilter(logging.Filter):
    """Adds ``run_id`` to every record that passes the handler it is attached to."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "run_id"):
            record.run_id = self.run_id
        return True


def tag_log_handlers(run_id: str, root: logging.Logger | None = None) -> None:
    """Put ``run_id`` on the records of every handler of ``root`` (default: the root logger),
    replacing a run id set before (a notebook running two runs in one process)."""
    for handler in (root or logging.getLogger()).handlers:
        for old in [f for f in handler.filters if isinstance(f, RunIdFilter)]:
            handler.removeFilter(old)
        handler.addFilter(RunIdFilter(run_id))


def publish_task_values(values: dict[str, str | int]) -> bool:
    """Hand the run's outcome to the Databricks job (``dbutils.jobs.taskValues``), so a later
    task can branch on it without the exit code. Elsewhere does nothing.

    Returns:
        True when the values were set.
    """
    dbutils = _dbutils() if is_databricks() else None
    jobs = getattr(dbutils, "jobs", None)
    if jobs is None:
        return False
    for key, value in values.items():
        jobs.taskValues.set(key=key, value=value)
    return True
