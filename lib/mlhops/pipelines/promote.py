"""Stage ``promote``: explicit alias changes, logged to ``mlhops.model_events`` and MLflow.

Options: ``action`` = ``promote`` (challenger or ``version`` -> champion) or ``rollback``
(champion -> ``previous_champion`` or ``version``), ``version``, ``reason``.
"""

from __future__ import annotations

import datetime as dt

from mlhops.errors import ConfigError
from mlhops.io import table_version
from mlhops.io.tables.models import MODEL_EVENTS, MODEL_EVENTS_SPEC
from mlhops.models import lifecycle
from mlhops.models.outputs import merge_rows
from mlhops.models.task import load_task
from mlhops.pipelines.context import Context
from mlhops.pipelines.options import PromoteOptions
from mlhops.pipelines.stage import StageRequest, StageResult

STAGE = "promote"


def run(ctx: Context, req: StageRequest[PromoteOptions]) -> StageResult:
    """Promote the challenger (or a version) to champion, or roll the champion back."""
    action = req.options.action
    if action not in ("promote", "rollback"):
        raise ConfigError(f"promote: action must be promote or rollback, got {action!r}")
    reason = req.options.reason or f"{action} by operator"
    name = load_task(ctx.settings).registered_model
    change = (lifecycle.promote if action == "promote" else lifecycle.rollback)(ctx.tracker, name, req.options.version)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with ctx.tracker.run(action, tags={"mlhops.model": name, "mlhops.run_id": req.run_id},
                         params={"action": action, "from_version": change.from_version,
                                 "to_version": change.to_version, "reason": reason}):
        pass
    event = {"event_id": f"{req.run_id}:{action}", "event_time": now, "model_name": name, "action": action,
             "from_version": change.from_version, "to_version": change.to_version, "reason": reason}
    merge_rows(ctx.spark, ctx.catalog, MODEL_EVENTS_SPEC, [event])
    return StageResult(
        STAGE, "ok", f"{action}: champion {change.from_version} -> {change.to_version}",
        tables={MODEL_EVENTS: table_version(ctx.spark, ctx.catalog, MODEL_EVENTS) or 0},
        details={"action": action, "from_version": change.from_version, "to_version": change.to_version},
    )
