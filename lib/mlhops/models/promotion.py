"""The evaluate stage's champion / challenger decision: compare, decide, apply, record.

A pending challenger is compared with the champion on the cases neither has seen
(:mod:`mlhops.models.paired_cases`) under the declared rule (:mod:`mlhops.models.comparison`).
Every comparison is a row of ``mlhops.promotion_decisions`` (one per pair and label cut-off, so
the trail shows how the evidence grew night by night). A ``promote`` decision is applied only with
``models.promotion.auto`` and no approval is required (else it waits for ``mlhops promote``); a
rejected challenger loses its alias (so a later trigger can train another). Applied changes are also ``mlhops.model_events``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from mlhops.config.stages import ModelSettings
from mlhops.hashing import KeyedHasher
from mlhops.io import Catalog
from mlhops.io.tables.models import MODEL_EVENTS_SPEC, PROMOTION_DECISIONS_SPEC
from mlhops.models import lifecycle, registry
from mlhops.models.comparison import PROMOTE, REJECT, Comparison, Decision, compare, decide
from mlhops.models.outputs import merge_rows
from mlhops.models.paired_cases import held_out, load_paired
from mlhops.models.task import TaskSpec

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from mlhops.tracking import Tracker

logger = logging.getLogger(__name__)
REJECTED_TAG = "mlhops.rejected"


@dataclass(frozen=True)
class Outcome:
    """One pair's comparison, decision and whether it was applied."""

    champion: str
    challenger: str
    comparison: Comparison
    decision: Decision
    applied: bool


def decision_row(name: str, o: Outcome, as_of: dt.date, now: dt.datetime, rule: dict[str, Any],
                 run_id: str) -> dict[str, Any]:
    """The ``mlhops.promotion_decisions`` row of an outcome (aggregates only)."""
    row: dict[str, Any] = {
        "model_name": name, "champion_version": o.champion, "challenger_version": o.challenger,
        "labels_as_of": as_of, "decided_at": now, "decision": o.decision.decision, "applied": o.applied,
        "reason": o.decision.reason, "n": o.comparison.n, "n_positive": o.comparison.n_positive,
        "n_persons": o.comparison.n_persons, "windows": o.comparison.windows,
        "fairness": json.dumps([asdict(g) for g in o.comparison.fairness]), "rule": json.dumps(rule, sort_keys=True),
        "run_id": run_id,
    }
    for metric, d in o.comparison.differences.items():
        row |= {f"{metric}_champion": d.champion, f"{metric}_challenger": d.challenger, f"{metric}_diff": d.difference,
                f"{metric}_diff_lower": d.ci_lower, f"{metric}_diff_upper": d.ci_upper}
    return row


def _apply(tracker: Tracker, name: str, o: Outcome) -> dict[str, Any] | None:
    """Move the aliases for an applied decision; returns its ``model_events`` row fields."""
    if o.decision.decision == PROMOTE:
        change = lifecycle.promote(tracker, name, o.challenger)
        return {"action": "promote", "from_version": change.from_version, "to_version": change.to_version}
    if o.decision.decision == REJECT:
        registry.drop_alias(tracker, name, registry.CHALLENGER)
        registry.tag_version(tracker, name, o.challenger, REJECTED_TAG, "true")
        logger.info("rejected %s challenger version %s", name, o.challenger)
        return {"action": "reject", "from_version": o.challenger, "to_version": o.champion}
    return None


def decide_pending(spark: SparkSession, catalog: Catalog, hasher: KeyedHasher, tracker: Tracker, *,
                   cfg: ModelSettings, task: TaskSpec, as_of: dt.date, run_id: str) -> Outcome | None:
    """Compare the pending challenger with the champion, apply the decision when allowed, record it.

    Returns:
        The outcome, or None when there is no champion / challenger pair (or promotion is disabled).
    """
    rule = cfg.promotion
    name = task.registered_model
    champion = registry.alias_version(tracker, name, registry.CHAMPION)
    challenger = registry.alias_version(tracker, name, registry.CHALLENGER)
    if not rule.enabled or champion is None or challenger is None or champion == challenger:
        return None
    held = [held_out(tracker, name, v, task) for v in (champion, challenger)]
    cases = load_paired(spark, catalog, hasher, task=task, name=name, champion=champion, challenger=challenger,
                        held=held, as_of=as_of, attributes=cfg.fairness.attributes)
    comparison = compare(cases, rule, cfg.fairness, confidence=cfg.bootstrap.confidence, seed=cfg.bootstrap.seed,
                         ece_bins=cfg.ece_bins)
    decision = decide(comparison, rule)
    # Retiring a challenger leaves the champion as it is; a champion change waits for an
    # approver wherever approval is required, whatever ``auto`` says.
    applies = decision.decision == REJECT or (decision.decision == PROMOTE and rule.auto and not rule.require_approval)
    outcome = Outcome(champion, challenger, comparison, decision, applies)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    event = _apply(tracker, name, outcome) if applies else None
    merge_rows(spark, catalog, PROMOTION_DECISIONS_SPEC,
               [decision_row(name, outcome, as_of, now, asdict(rule), run_id)])
    if event is not None:
        merge_rows(spark, catalog, MODEL_EVENTS_SPEC, [{
            "event_id": f"{run_id}:{event['action']}", "event_time": now, "model_name": name,
            "reason": f"{decision.decision}: {decision.reason}", **event}])
    logger.info("%s v%s vs champion v%s: %s (%d paired cases)", name, challenger, champion, decision.decision,
                comparison.n)
    return outcome
