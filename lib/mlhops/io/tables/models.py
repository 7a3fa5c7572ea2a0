"""Tables of the model lifecycle: task labels, the inference log, evaluation outputs, model events.

Documented column by column in ``docs/tables.md``. Keys are the MERGE keys of the stage that
writes the table. The inference log carries a keyed hash of the person (``person_hash``) and
never the OMOP ids; ``mlhops.labels`` carries the OMOP ``person_id``.
"""

from __future__ import annotations

from pyspark.sql import types as T

from mlhops.io.tables.spec import TableSpec, struct

LABELS = "mlhops.labels"
INFERENCE_LOG = "mlhops.inference_log"
PERFORMANCE_METRICS = "mlhops.performance_metrics"
FAIRNESS_DISPARITIES = "mlhops.fairness_disparities"
MODEL_DRIFT = "mlhops.model_drift"
LABEL_REQUESTS = "mlhops.label_requests"
MODEL_TRIGGERS = "mlhops.model_triggers"
MODEL_EVENTS = "mlhops.model_events"
PROMOTION_DECISIONS = "mlhops.promotion_decisions"
APPROVALS = "mlhops.approvals"
MODEL_IMPORTANCE = "mlhops.model_importance"
MODEL_PRIVACY = "mlhops.model_privacy"

_S, _D, _L, _I = T.StringType(), T.DoubleType(), T.LongType(), T.IntegerType()
_DATE, _TS, _B = T.DateType(), T.TimestampType(), T.BooleanType()
# Every evaluation output starts with the model version and the window it describes.
_WINDOW = (("model_name", _S), ("model_version", _S), ("window_start", _DATE), ("window_end", _DATE))

LABELS_SCHEMA = struct(
    ("task", _S), ("person_id", _L), ("visit_occurrence_id", _L), ("index_date", _DATE), ("label", _I),
    ("label_available_date", _DATE),
)
INFERENCE_LOG_SCHEMA = struct(
    ("model_name", _S), ("model_version", _S), ("task", _S), ("window_start", _DATE), ("window_end", _DATE),
    ("person_hash", _S), ("visit_hash", _S), ("event_time", _TS), ("score", _D), ("threshold", _D),
    ("decision", _I), ("subgroups", T.MapType(_S, _S)), ("scored_at", _TS),
)
PERFORMANCE_METRICS_SCHEMA = struct(
    *_WINDOW, ("method", _S), ("attribute", _S), ("grp", _S), ("metric", _S), ("estimate", _D),
    ("ci_lower", _D), ("ci_upper", _D), ("n", _L), ("n_positive", _L), ("n_scored", _L), ("threshold", _D),
    ("labels_as_of", _DATE),
)
FAIRNESS_DISPARITIES_SCHEMA = struct(
    *_WINDOW, ("attribute", _S), ("grp", _S), ("reference_group", _S), ("metric", _S), ("group_value", _D),
    ("reference_value", _D), ("difference", _D), ("ratio", _D), ("ci_lower", _D), ("ci_upper", _D), ("n", _L),
    ("flagged", _B), ("labels_as_of", _DATE),
)
MODEL_DRIFT_SCHEMA = struct(
    *_WINDOW, ("detector", _S), ("statistic", _D), ("threshold", _D), ("reference", _D), ("ci_lower", _D),
    ("ci_upper", _D), ("n", _L), ("drift", _B), ("labels_as_of", _DATE),
)
# status: open -> fulfilled (labels arrived: labelled_on, days_to_label) or expired (closed_as_of).
# The last three columns came later: writers add them to an older table (models.outputs.merge_rows).
LABEL_REQUESTS_SCHEMA = struct(
    *_WINDOW, ("policy", _S), ("reason", _S), ("n_requested", _L), ("priority", _I), ("status", _S),
    ("planned_as_of", _DATE), ("closed_as_of", _DATE), ("labelled_on", _DATE), ("days_to_label", _I),
)
# Why a trigger fired: the detector (or metric), feature, the windows of the evidence and its effect
# size (aggregates only). Columns after ``labels_as_of`` came later (added to an older table on write).
MODEL_TRIGGERS_SCHEMA = struct(
    *_WINDOW, ("kind", _S), ("action", _S), ("reason", _S), ("labels_as_of", _DATE), ("detector", _S),
    ("feature", _S), ("evidence_start", _DATE), ("evidence_end", _DATE), ("evidence_windows", _I),
    ("effect_size", _D),
)
MODEL_EVENTS_SCHEMA = struct(
    ("event_id", _S), ("event_time", _TS), ("model_name", _S), ("action", _S), ("from_version", _S),
    ("to_version", _S), ("reason", _S),
)
# One row per champion / challenger pair and label cut-off: what the declared rule decided and the
# evidence it saw (paired differences challenger - champion with bootstrap intervals, counts).
PROMOTION_DECISIONS_SCHEMA = struct(
    ("model_name", _S), ("champion_version", _S), ("challenger_version", _S), ("labels_as_of", _DATE),
    ("decided_at", _TS), ("decision", _S), ("applied", _B), ("reason", _S), ("n", _L), ("n_positive", _L),
    ("n_persons", _L), ("windows", _I), ("auroc_champion", _D), ("auroc_challenger", _D), ("auroc_diff", _D),
    ("auroc_diff_lower", _D), ("auroc_diff_upper", _D), ("brier_champion", _D), ("brier_challenger", _D),
    ("brier_diff", _D), ("brier_diff_lower", _D), ("brier_diff_upper", _D), ("ece_champion", _D),
    ("ece_challenger", _D), ("ece_diff", _D), ("ece_diff_lower", _D), ("ece_diff_upper", _D),
    ("fairness", _S), ("rule", _S), ("run_id", _S),
)
# The audit trail of approved champion changes: who, why, and the evidence the approver saw (the
# pair's latest promotion decision, JSON, aggregates only).
APPROVALS_SCHEMA = struct(
    ("approval_id", _S), ("approved_at", _TS), ("model_name", _S), ("action", _S), ("from_version", _S),
    ("to_version", _S), ("approved_by", _S), ("reason", _S), ("evidence", _S), ("run_id", _S),
)

# Global importance of each feature of a version: permutation AUROC drop with a t-interval over the
# repeats; ``computed_on`` is ``validation`` (at training) or a window start (evaluate, ISO date).
# ``rank_correlation``: a window's Spearman correlation with the version's training profile (null
# on the training rows), repeated on each of the window's feature rows. ``labels_as_of``: the label
# cut-off of the training or of the evaluation (deterministic, so a re-run commits nothing).
MODEL_IMPORTANCE_SCHEMA = struct(
    ("model_name", _S), ("model_version", _S), ("computed_on", _S), ("feature", _S), ("importance", _D),
    ("ci_lower", _D), ("ci_upper", _D), ("rank", _I), ("n", _L), ("repeats", _I), ("metric", _S),
    ("rank_correlation", _D), ("labels_as_of", _DATE),
)
# Membership inference at training: loss-threshold attack AUROC (training vs held-out persons).
MODEL_PRIVACY_SCHEMA = struct(
    ("model_name", _S), ("model_version", _S), ("attack", _S), ("auroc", _D), ("ci_lower", _D),
    ("ci_upper", _D), ("n_members", _L), ("n_nonmembers", _L), ("max_auroc", _D), ("verdict", _S),
    ("computed_at", _TS),
)

_VERSION_WINDOW = ("model_name", "model_version", "window_start")

LABELS_SPEC = TableSpec(
    LABELS, LABELS_SCHEMA, ("task", "visit_occurrence_id"), ("person_id",), "train",
    "one label per index visit of the task, with the date it becomes final",
)
INFERENCE_LOG_SPEC = TableSpec(
    INFERENCE_LOG, INFERENCE_LOG_SCHEMA, ("model_name", "model_version", "visit_hash"), ("person_hash",), "score",
    "one score per visit, model version and window: keyed hashes, decision, subgroups",
)
PERFORMANCE_METRICS_SPEC = TableSpec(
    PERFORMANCE_METRICS, PERFORMANCE_METRICS_SCHEMA, (*_VERSION_WINDOW, "method", "attribute", "grp", "metric"),
    (), "evaluate", "realized and CBPE-estimated metrics per window and reportable subgroup, with CIs",
)
FAIRNESS_DISPARITIES_SPEC = TableSpec(
    FAIRNESS_DISPARITIES, FAIRNESS_DISPARITIES_SCHEMA, (*_VERSION_WINDOW, "attribute", "grp", "metric"),
    (), "evaluate", "subgroup metric against the reference group: difference, ratio, flagged",
)
MODEL_DRIFT_SPEC = TableSpec(
    MODEL_DRIFT, MODEL_DRIFT_SCHEMA, (*_VERSION_WINDOW, "detector"), (), "evaluate",
    "label shift (BBSE), score PSI and concept-drift detectors per window",
)
LABEL_REQUESTS_SPEC = TableSpec(
    LABEL_REQUESTS, LABEL_REQUESTS_SCHEMA, ("model_name", "window_start", "policy"), (), "evaluate",
    "windows of the champion that need expert labels under the label policy",
)
MODEL_TRIGGERS_SPEC = TableSpec(
    MODEL_TRIGGERS, MODEL_TRIGGERS_SCHEMA, (*_VERSION_WINDOW, "kind"), (), "evaluate",
    "retrain / recalibrate triggers fired per window",
)
MODEL_EVENTS_SPEC = TableSpec(
    MODEL_EVENTS, MODEL_EVENTS_SCHEMA, ("event_id",), (), "promote",
    "explicit champion changes (promote, rollback) with their reason",
)
PROMOTION_DECISIONS_SPEC = TableSpec(
    PROMOTION_DECISIONS, PROMOTION_DECISIONS_SCHEMA,
    ("model_name", "champion_version", "challenger_version", "labels_as_of"), (), "evaluate",
    "champion vs challenger on the same held-out cases: the declared rule's decision and its evidence",
)
APPROVALS_SPEC = TableSpec(
    APPROVALS, APPROVALS_SCHEMA, ("approval_id",), (), "promote",
    "approved champion changes: approver, reason and the evidence the approval saw",
)
MODEL_IMPORTANCE_SPEC = TableSpec(
    MODEL_IMPORTANCE, MODEL_IMPORTANCE_SCHEMA, ("model_name", "model_version", "computed_on", "feature"), (),
    "train", "global permutation importance per version: on its validation split and per labelled window",
)
MODEL_PRIVACY_SPEC = TableSpec(
    MODEL_PRIVACY, MODEL_PRIVACY_SCHEMA, ("model_name", "model_version", "attack"), (), "train",
    "membership-inference check per version: attack AUROC with interval and verdict",
)

TABLES: tuple[TableSpec, ...] = (
    LABELS_SPEC, INFERENCE_LOG_SPEC, PERFORMANCE_METRICS_SPEC, FAIRNESS_DISPARITIES_SPEC, MODEL_DRIFT_SPEC,
    LABEL_REQUESTS_SPEC, MODEL_TRIGGERS_SPEC, MODEL_EVENTS_SPEC, PROMOTION_DECISIONS_SPEC, APPROVALS_SPEC,
    MODEL_IMPORTANCE_SPEC, MODEL_PRIVACY_SPEC,
)
