"""Stage ``promote``: explicit alias changes, logged to ``mlhops.model_events`` and MLflow.

Options: ``action`` = ``promote`` (challenger or ``version`` -> champion) or ``rollback``
(champion -> ``previous_champion`` or ``version``), ``version``, ``reason``, ``approved_by``.
Where ``models.promotion.require_approval`` is on, a change needs an approver and a reason; an
approved change is also a row of ``mlhops.approvals`` with the evidence the approver saw (the
pair's latest ``mlhops.promotion_decisions`` row).

**Crash safety.** A change moves up to three aliases and then records itself; a run killed in
between would leave the aliases moved and no record (and its re-run, finding no challenger, would
fail). So before any alias moves, the target version is tagged ``mlhops.pending_change`` with the
run id, the action and the versions from and to; the tag is marked ``recorded`` once the records are written.
A run that finds that tag on the champion or on its target resumes that change: it completes the
alias moves (each idempotent), records the change under the interrupted run's event id (a MERGE:
never twice) and marks the tag ``recorded``. A run killed after that, before the orchestrator
wrote its outcome to ``mlhops.runs``, left the change complete but unreported: a re-run of the
same action finds the champion's tag ``recorded`` by a run with no successful ``promote`` row and
reports that change as its own outcome (nothing moved or written again) instead of failing for
want of a challenger (found by scripts/fault_injection.py, trial 8 of 2026-12-04).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from pyspark.sql import functions as F

from mlhops.errors import ConfigError
from mlhops.io import read_table, table_exists, table_version
from mlhops.io.tables.models import (
    APPROVALS, APPROVALS_SPEC, MODEL_EVENTS, MODEL_EVENTS_SPEC, PROMOTION_DECISIONS,
)
from mlhops.models import lifecycle, registry
from mlhops.models.outputs import merge_rows
from mlhops.models.task import load_task
from mlhops.pipelines.context import Context
from mlhops.pipelines.options import PromoteOptions
from mlhops.pipelines.runs import stage_succeeded
from mlhops.pipelines.stage import StageRequest, StageResult

logger = logging.getLogger(__name__)

STAGE = "promote"
# Tag of a version whose alias change is under way: {"run_id", "action", "from", "to"} (see above).
PENDING_TAG = "mlhops.pending_change"
# The tag's state once the change's records are written (until then it has none: pending).
RECORDED = "recorded"
# What an approval keeps of the decision it saw (aggregates only).
EVIDENCE_COLUMNS = ("decision", "reason", "labels_as_of", "n", "n_positive", "auroc_diff", "auroc_diff_lower",
                    "auroc_diff_upper", "brier_diff", "brier_diff_lower", "brier_diff_upper", "ece_champion",
                    "ece_challenger", "fairness")


def _evidence(ctx: Context, name: str, champion: str | None, challenger: str | None) -> dict[str, Any] | None:
    """The latest promotion decision on the pair (either order for a rollback), if any."""
    if champion is None or challenger is None or not table_exists(ctx.spark, ctx.catalog, PROMOTION_DECISIONS):
        return None
    pair = ((F.col("champion_version") == champion) & (F.col("challenger_version") == challenger)) | (
        (F.col("champion_version") == challenger) & (F.col("challenger_version") == champion))
    row = read_table(ctx.spark, ctx.catalog, PROMOTION_DECISIONS).where((F.col("model_name") == name) & pair) \
        .orderBy(F.col("decided_at").desc()).first()
    return None if row is None else {k: row[k] for k in EVIDENCE_COLUMNS}


def _check_approval(ctx: Context, opts: PromoteOptions) -> None:
    if ctx.settings.models.promotion.require_approval and not (opts.approved_by and opts.reason):
        raise ConfigError(
            f"{opts.action}: this environment requires an approved change (models.promotion.require_approval): "
            f"mlhops {opts.action} --approve --by NAME --reason TEXT"
        )


def _source_alias(action: str) -> str:
    """The alias whose version an action moves to champion by default."""
    return registry.CHALLENGER if action == "promote" else registry.PREVIOUS_CHAMPION


def _change_tag(ctx: Context, name: str, version: str) -> dict[str, Any]:
    """The version's :data:`PENDING_TAG` as a dict (empty when it has none)."""
    raw = registry.version_tags(ctx.tracker, name, version).get(PENDING_TAG, "")
    return dict(json.loads(raw)) if raw else {}


def _pending(ctx: Context, name: str, opts: PromoteOptions) -> dict[str, Any] | None:
    """The interrupted change of the same action (and target, when one is asked for), if any."""
    target = opts.version or registry.alias_version(ctx.tracker, name, _source_alias(opts.action))
    candidates = {v for v in (registry.alias_version(ctx.tracker, name, registry.CHAMPION), target) if v}
    for version in sorted(candidates):
        change = _change_tag(ctx, name, version)
        if change.get("action") == opts.action and change.get("to") == version and "state" not in change \
                and (opts.version is None or opts.version == version):
            return change
    return None


def _unreported(ctx: Context, name: str, opts: PromoteOptions) -> tuple[lifecycle.AliasChange, str] | None:
    """The same action, complete and recorded by a run whose outcome never reached
    ``mlhops.runs`` (killed in between), with the run id it was recorded under; else None.

    Only when this request has nothing else to do: its version is the champion already, or
    (no version given) the alias it would take the version from is gone, as the change left it
    (a challenger trained since makes a new promotion, not a re-run)."""
    champion = registry.alias_version(ctx.tracker, name, registry.CHAMPION)
    if champion is None or (opts.version is not None and opts.version != champion):
        return None
    if opts.version is None and registry.alias_version(ctx.tracker, name, _source_alias(opts.action)) is not None:
        return None
    change = _change_tag(ctx, name, champion)
    if change.get("state") != RECORDED or change.get("action") != opts.action or change.get("to") != champion:
        return None
    if stage_succeeded(ctx.spark, ctx.catalog, str(change["run_id"]), STAGE):
        return None
    return lifecycle.AliasChange(opts.action, change["from"], champion), str(change["run_id"])


def _change(ctx: Context, name: str, opts: PromoteOptions, run_id: str) -> tuple[lifecycle.AliasChange, str]:
    """Move the aliases (resuming an interrupted change of the same action); returns the change
    and the run id it is recorded under. Leaves :data:`PENDING_TAG` set on the target."""
    pending = _pending(ctx, name, opts)
    if pending is None:
        current = registry.alias_version(ctx.tracker, name, registry.CHAMPION)
        target = opts.version or registry.alias_version(ctx.tracker, name, _source_alias(opts.action))
        if target is not None and target != current:
            pending = {"run_id": run_id, "action": opts.action, "from": current, "to": target}
            registry.tag_version(ctx.tracker, name, target, PENDING_TAG, json.dumps(pending))
    else:
        logger.warning("%s: resuming the %s of %s version %s interrupted in run %s", STAGE, opts.action, name,
                       pending["to"], pending["run_id"])
    version = pending["to"] if pending else opts.version
    move = lifecycle.promote if opts.action == "promote" else lifecycle.rollback
    change = move(ctx.tracker, name, version)
    if pending is None:
        return change, run_id
    if opts.action == "promote":
        # killed after the champion moved, lifecycle.promote sees nothing left to do: finish its steps
        if registry.alias_version(ctx.tracker, name, registry.CHALLENGER) == change.to_version:
            registry.drop_alias(ctx.tracker, name, registry.CHALLENGER)
        registry.tag_version(ctx.tracker, name, change.to_version, "mlhops.promoted_from",
                             pending["from"] or "")
    return lifecycle.AliasChange(opts.action, pending["from"], change.to_version), str(pending["run_id"])


def run(ctx: Context, req: StageRequest[PromoteOptions]) -> StageResult:
    """Promote the challenger (or a version) to champion, or roll the champion back."""
    opts = req.options
    action = opts.action
    if action not in ("promote", "rollback"):
        raise ConfigError(f"promote: action must be promote or rollback, got {action!r}")
    _check_approval(ctx, opts)
    reason = opts.reason or f"{action} by operator"
    name = load_task(ctx.settings).registered_model
    done = _unreported(ctx, name, opts)
    if done is not None:
        change, event_run = done
        logger.warning("%s: the %s of %s version %s was completed and recorded by run %s, whose outcome was "
                       "never reported; reporting it now", STAGE, action, name, change.to_version, event_run)
        return StageResult(
            STAGE, "ok", f"{action}: champion {change.from_version} -> {change.to_version} (done by run {event_run})",
            tables={MODEL_EVENTS: table_version(ctx.spark, ctx.catalog, MODEL_EVENTS) or 0},
            details={"action": action, "from_version": change.from_version, "to_version": change.to_version,
                     "recorded_by_run": event_run},
        )
    change, event_run = _change(ctx, name, opts, req.run_id)
    before = change.from_version
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    params = {"action": action, "from_version": change.from_version, "to_version": change.to_version,
              "reason": reason}
    if opts.approved_by:
        params["approved_by"] = opts.approved_by
    with ctx.tracker.run(action, tags={"mlhops.model": name, "mlhops.run_id": req.run_id}, params=params):
        pass
    event = {"event_id": f"{event_run}:{action}", "event_time": now, "model_name": name, "action": action,
             "from_version": change.from_version, "to_version": change.to_version, "reason": reason}
    merge_rows(ctx.spark, ctx.catalog, MODEL_EVENTS_SPEC, [event])
    tables = {MODEL_EVENTS: table_version(ctx.spark, ctx.catalog, MODEL_EVENTS) or 0}
    if opts.approved_by:
        evidence = _evidence(ctx, name, before, change.to_version)
        merge_rows(ctx.spark, ctx.catalog, APPROVALS_SPEC, [{
            "approval_id": f"{event_run}:{action}", "approved_at": now, "model_name": name, "action": action,
            "from_version": change.from_version, "to_version": change.to_version, "approved_by": opts.approved_by,
            "reason": reason, "evidence": json.dumps(evidence, default=str) if evidence else None,
            "run_id": req.run_id}])
        tables[APPROVALS] = table_version(ctx.spark, ctx.catalog, APPROVALS) or 0
    # recorded: a later run resumes nothing, and one re-running this very request reports it (_unreported)
    registry.tag_version(ctx.tracker, name, change.to_version, PENDING_TAG,
                         json.dumps({"run_id": event_run, "action": action, "from": change.from_version,
                                     "to": change.to_version, "state": RECORDED}))
    return StageResult(
        STAGE, "ok", f"{action}: champion {change.from_version} -> {change.to_version}"
        + (f" (approved by {opts.approved_by})" if opts.approved_by else ""),
        tables=tables,
        details={"action": action, "from_version": change.from_version, "to_version": change.to_version,
                 "approved_by": opts.approved_by},
    )
