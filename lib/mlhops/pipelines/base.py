"""What every stage takes and returns. ``pipelines/<stage>.py`` exposes ``run(spark, settings, params)``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "skipped", "failed", "alerts"]


@dataclass(frozen=True)
class StageParams:
    """Parameters of one stage invocation (from the CLI, a job, a notebook or ``nightly``).

    ``start``/``end`` bound the data windows to (re)compute, ``[start, end)`` in UTC; None means
    "whatever is new" (incremental) for stages that support it.
    """

    run_id: str
    start: dt.date | None = None
    end: dt.date | None = None
    force: bool = False
    source: str | None = None
    input: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StageResult:
    """What a stage did, for the run summary, the runs table and MLflow.

    ``metrics`` hold numbers only (counts, rates, durations) and never patient values.
    """

    stage: str
    status: Status
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)  # table name -> Delta version written
    details: dict[str, Any] = field(default_factory=dict)
