"""Schemas and keys of the model-lifecycle tables (documented in docs/tables.md)."""

from __future__ import annotations

INFERENCE_LOG = "mlhops.inference_log"
INFERENCE_SCHEMA = (
    "model_name string, model_version string, task string, window_start date, window_end date, "
    "person_hash string, visit_hash string, event_time timestamp, score double, threshold double, "
    "decision int, subgroups map<string,string>, scored_at timestamp"
)
INFERENCE_KEYS = ("model_name", "model_version", "visit_hash")

PERFORMANCE_METRICS = "mlhops.performance_metrics"
PERFORMANCE_SCHEMA = (
    "model_name string, model_version string, window_start date, window_end date, method string, "
    "attribute string, grp string, metric string, estimate double, ci_lower double, ci_upper double, "
    "n long, n_positive long, n_scored long, threshold double, labels_as_of date"
)
PERFORMANCE_KEYS = ("model_name", "model_version", "window_start", "method", "attribute", "grp", "metric")

FAIRNESS = "mlhops.fairness_disparities"
FAIRNESS_SCHEMA = (
    "model_name string, model_version string, window_start date, window_end date, attribute string, "
    "grp string, reference_group string, metric string, group_value double, reference_value double, "
    "difference double, ratio double, ci_lower double, ci_upper double, n long, flagged boolean, "
    "labels_as_of date"
)
FAIRNESS_KEYS = ("model_name", "model_version", "window_start", "attribute", "grp", "metric")

MODEL_DRIFT = "mlhops.model_drift"
MODEL_DRIFT_SCHEMA = (
    "model_name string, model_version string, window_start date, window_end date, detector string, "
    "statistic double, threshold double, reference double, ci_lower double, ci_upper double, "
    "n long, drift boolean, labels_as_of date"
)
MODEL_DRIFT_KEYS = ("model_name", "model_version", "window_start", "detector")

LABEL_REQUESTS = "mlhops.label_requests"
LABEL_REQUESTS_SCHEMA = (
    "model_name string, model_version string, window_start date, window_end date, policy string, "
    "reason string, n_requested long, priority int, status string, planned_as_of date"
)
LABEL_REQUESTS_KEYS = ("model_name", "window_start", "policy")

MODEL_TRIGGERS = "mlhops.model_triggers"
MODEL_TRIGGERS_SCHEMA = (
    "model_name string, model_version string, window_start date, window_end date, kind string, "
    "action string, reason string, labels_as_of date"
)
MODEL_TRIGGERS_KEYS = ("model_name", "model_version", "window_start", "kind")

MODEL_EVENTS = "mlhops.model_events"
MODEL_EVENTS_SCHEMA = (
    "event_id string, event_time timestamp, model_name string, action string, "
    "from_version string, to_version string, reason string"
)
MODEL_EVENTS_KEYS = ("event_id",)
