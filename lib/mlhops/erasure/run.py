"""``mlhops erase``: plan, apply, verify and record one erasure, under the warehouse writer lease.

The lease keeps every other writing run out while rows are deleted and old files vacuumed (a
nightly waits, then sees the warehouse without the persons). The record in ``mlhops.erasures``
holds who asked, when, why, the source, how many ids and persons, rows deleted per table and the
versions flagged, never an id. A request whose persons are not in the warehouse (already erased,
or never loaded) changes no data table: it is recorded with status ``no_op``.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyspark.sql import SparkSession

from mlhops.erasure.apply import apply_plan
from mlhops.erasure.plan import build_plan
from mlhops.erasure.tables import ERASURES_SPEC
from mlhops.erasure.verify import ErasureIncompleteError, verify
from mlhops.io import Catalog
from mlhops.io.lease import writer_lease
from mlhops.models.outputs import merge_rows

if TYPE_CHECKING:
    from mlhops.config.model import ErasureSettings
    from mlhops.hashing import KeyedHasher

logger = logging.getLogger(__name__)

STAGE = "erase"


@dataclass(frozen=True)
class ErasureRequest:
    """What was asked: the ids (in memory only), their source, by whom and why."""

    source: str
    ids: tuple[str, ...]
    erased_by: str
    reason: str
    run_id: str


@dataclass(frozen=True)
class ErasureOutcome:
    """What an erasure did (counts only)."""

    erasure_id: str
    status: str
    n_persons: int
    rows_deleted: dict[str, int]
    flagged: list[str]
    traces: dict[str, int]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def erase(spark: SparkSession, catalog: Catalog, hasher: KeyedHasher, client: Any, settings: ErasureSettings,
          request: ErasureRequest) -> ErasureOutcome:
    """Erase the request's persons from every table, purge, flag, verify and record.

    Args:
        spark: the session.
        catalog: table locations.
        hasher: the warehouse's keyed hasher (resolves the ids through ``mlhops.id_map``).
        client: the MLflow client (versions to flag).
        settings: the ``erasure`` settings (VACUUM retention).
        request: the ids and who asked why.

    Raises:
        ErasureIncompleteError: verification found rows or files of erased persons left (the
            record says ``incomplete`` and which tables).
    """
    requested_at = _now()
    erasure_id = f"erasure-{requested_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    with writer_lease(spark, catalog, owner=request.run_id, stage=STAGE) as lease:
        plan = build_plan(spark, catalog, hasher, client, source=request.source, ids=request.ids)
        if plan.scope.empty:
            outcome = ErasureOutcome(erasure_id, "no_op", 0, {}, [], {})
        else:
            counts, flagged = apply_plan(spark, catalog, client, plan, erasure_id=erasure_id,
                                         retention_hours=settings.vacuum_retention_hours, check=lease.check)
            traces = verify(spark, catalog, plan.deletions)
            outcome = ErasureOutcome(erasure_id, "incomplete" if traces else "complete", len(plan.scope.persons),
                                     counts, flagged, traces)
        _record(spark, catalog, request, outcome, requested_at, settings.vacuum_retention_hours)
    logger.info("erasure %s: %s, %d persons, %d rows in %d tables, %d versions flagged", erasure_id, outcome.status,
                outcome.n_persons, sum(outcome.rows_deleted.values()), len(outcome.rows_deleted), len(outcome.flagged))
    if outcome.traces:
        raise ErasureIncompleteError(
            f"erasure {erasure_id}: rows of erased persons remain in {sorted(outcome.traces)}; see "
            "docs/runbooks/erasure.md"
        )
    return outcome


def _record(spark: SparkSession, catalog: Catalog, request: ErasureRequest, outcome: ErasureOutcome,
            requested_at: dt.datetime, retention_hours: float) -> None:
    merge_rows(spark, catalog, ERASURES_SPEC, [{
        "erasure_id": outcome.erasure_id, "requested_at": requested_at, "completed_at": _now(),
        "erased_by": request.erased_by, "reason": request.reason, "source": request.source,
        "n_ids": len(request.ids), "n_persons": outcome.n_persons, "rows_deleted": dict(outcome.rows_deleted),
        "flagged": list(outcome.flagged), "vacuum_retention_hours": float(retention_hours),
        "status": outcome.status, "traces": dict(outcome.traces), "run_id": request.run_id,
    }])


def request_from(source: str, ids: Sequence[str], *, erased_by: str, reason: str, run_id: str) -> ErasureRequest:
    """An :class:`ErasureRequest` (ids deduplicated, order kept)."""
    return ErasureRequest(source, tuple(dict.fromkeys(ids)), erased_by, reason, run_id)
