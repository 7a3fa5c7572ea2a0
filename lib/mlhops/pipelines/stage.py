"""The stage contract: what a stage is, what it takes and what it returns.

A stage is a value (:class:`Stage`) in the registry :data:`mlhops.pipelines.STAGES`; the
orchestrator, the CLI and its ``--help`` read that list and nothing else. Its module
(``pipelines/<stage>.py``, imported only when the stage runs, so ``mlhops etl`` never loads torch)
defines ``run(ctx, request) -> StageResult`` and, when its inputs are not just Delta tables,
``fingerprint(ctx, request) -> str``.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

if TYPE_CHECKING:
    from mlhops.pipelines.context import Context

Status = Literal["ok", "skipped", "failed", "alerts"]


@dataclass(frozen=True)
class NoOptions:
    """Options of a stage that takes none beyond the window."""


O = TypeVar("O")


@dataclass(frozen=True)
class StageRequest(Generic[O]):
    """One invocation of a stage (from the CLI, a job, a notebook or ``nightly``).

    ``start``/``end`` bound the data windows to (re)compute, ``[start, end)`` in UTC; None means
    "whatever is new" (incremental) for stages that support it. ``options`` is the stage's own
    typed options dataclass (:attr:`Stage.options`).
    """

    run_id: str
    start: dt.date | None = None
    end: dt.date | None = None
    force: bool = False
    options: O = field(default_factory=NoOptions)  # type: ignore[assignment]


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


StageFn = Callable[["Context", StageRequest[Any]], StageResult]
FingerprintFn = Callable[["Context", StageRequest[Any]], str]


@dataclass(frozen=True)
class Stage:
    """A stage of the pipeline.

    Attributes:
        name: the stage (and, for most stages, the CLI verb).
        module: module defining ``run`` (and ``fingerprint`` when ``fingerprinted``).
        help: one line for ``mlhops --help``.
        depends_on: stages whose failure blocks this one.
        input_tables: tables whose Delta versions identify the stage's input; with neither these
            nor a fingerprint the stage always runs (and must be idempotent by itself).
        nightly: part of ``mlhops nightly`` (False: only on explicit request).
        options: the typed options dataclass its requests carry.
        fingerprinted: the module defines ``fingerprint(ctx, request)``.
        writes_warehouse: the stage writes shared tables, so the runner holds the warehouse
            writer lease (:mod:`mlhops.io.lease`) around it (False: it only reads them).
    """

    name: str
    module: str
    help: str
    depends_on: tuple[str, ...] = ()
    input_tables: tuple[str, ...] = ()
    nightly: bool = True
    options: type = NoOptions
    fingerprinted: bool = False
    writes_warehouse: bool = True

    def _module(self) -> Any:
        return importlib.import_module(self.module)

    def run(self, ctx: Context, request: StageRequest[Any]) -> StageResult:
        """Run the stage's module."""
        if not isinstance(request.options, self.options):
            raise TypeError(f"stage {self.name} takes {self.options.__name__}, not {type(request.options).__name__}")
        fn: StageFn = self._module().run
        return fn(ctx, request)

    def custom_fingerprint(self, ctx: Context, request: StageRequest[Any]) -> str | None:
        """The module's own fingerprint, or None when the stage declares none."""
        if not self.fingerprinted:
            return None
        fn: FingerprintFn = self._module().fingerprint
        return str(fn(ctx, request))
