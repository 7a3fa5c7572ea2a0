"""Lifecycle rules without Spark or shared data: label cut-off, which window a recalibration uses,
window selection, the inference-log rewrite predicate and the model tables' schemas."""

from __future__ import annotations

import datetime as dt

import numpy as np

from mlhops.io.tables.models import (
    INFERENCE_LOG_SPEC, LABEL_REQUESTS_SPEC, LABELS_SPEC, MODEL_EVENTS_SPEC, MODEL_TRIGGERS_SPEC, TABLES,
)
from mlhops.models.assessment import Assessment, in_range
from mlhops.models.challengers import latest_labelled_window, triggered_window
from mlhops.models.evaluation import WindowCases
from mlhops.models.labels import label_cutoff
from mlhops.models.registry import LoadedModel
from mlhops.models.scoring import windows_predicate

MON = dt.date(2024, 1, 1)


def _window(version: str, week: int, n_labelled: int, n: int = 100) -> WindowCases:
    start = MON + dt.timedelta(weeks=week)
    labels = np.where(np.arange(n) < n_labelled, np.arange(n) % 2, -1)
    return WindowCases("m", version, start, start + dt.timedelta(days=7), np.full(n, 0.3), np.zeros(n, np.int64),
                       labels, {})


def _trigger(version: str, w: WindowCases, kind: str, action: str = "recalibrate") -> dict:
    return {"model_version": version, "window_start": w.window_start, "kind": kind, "action": action}


def test_label_cutoff_is_the_requested_date_else_the_window_end_minus_a_day_else_today():
    assert label_cutoff(dt.date(2024, 3, 1), dt.date(2024, 5, 1)) == dt.date(2024, 3, 1)
    assert label_cutoff(None, dt.date(2024, 5, 1)) == dt.date(2024, 4, 30)
    assert label_cutoff(None, None) == dt.datetime.now(dt.timezone.utc).date()


def test_recalibration_uses_the_latest_calibration_window_with_enough_labels():
    w = [_window("1", i, n_labelled=80) for i in range(4)] + [_window("2", 3, n_labelled=80)]
    w[3] = _window("1", 3, n_labelled=10)  # latest champion window: too few labels
    triggers = [
        _trigger("1", w[0], "calibration"), _trigger("1", w[2], "calibration"),
        _trigger("1", w[3], "calibration"),  # too few labels
        _trigger("1", w[1], "concept_drift"),  # ranked after calibration triggers
        _trigger("1", w[1], "performance", action="retrain"),  # a retrain, not a recalibration
        _trigger("2", w[4], "calibration"),  # not the champion
    ]
    assert triggered_window(triggers, w, "1", min_cases=50) is w[2]
    assert triggered_window(triggers[3:4], w, "1", min_cases=50) is w[1]
    assert triggered_window(triggers[4:], w, "1", min_cases=50) is None
    assert triggered_window(triggers, w, None, min_cases=50) is None


def test_on_demand_recalibration_uses_the_champions_latest_labelled_window():
    w = [_window("1", 0, 80), _window("1", 1, 60), _window("1", 2, 5), _window("2", 3, 90)]
    assert latest_labelled_window(w, "1", min_cases=50) is w[1]
    assert latest_labelled_window(w, "1", min_cases=100) is None


def test_window_selection_is_half_open_and_unbounded_sides_do_not_limit():
    w = [_window("1", i, 0) for i in range(4)]
    assert in_range(w, None, None) == w
    assert in_range(w, w[1].window_start, w[3].window_start) == w[1:3]
    assert in_range(w, w[2].window_start, None) == w[2:]


def test_flagged_counts_flagged_disparities():
    assert Assessment(fairness=[{"flagged": True}, {"flagged": False}, {"flagged": True}]).flagged == 2


def test_force_rescoring_rewrites_only_the_versions_windows():
    loaded = LoadedModel("m", "3", None, None, (), "run")  # type: ignore[arg-type]
    assert windows_predicate(loaded, [MON, MON + dt.timedelta(weeks=1)]) == (
        "model_name = 'm' AND model_version = '3' AND window_start IN (DATE'2024-01-01', DATE'2024-01-08')")


def test_model_tables_keep_their_columns_keys_and_person_columns():
    assert INFERENCE_LOG_SPEC.schema.simpleString() == (
        "struct<model_name:string,model_version:string,task:string,window_start:date,window_end:date,"
        "person_hash:string,visit_hash:string,event_time:timestamp,score:double,threshold:double,decision:int,"
        "subgroups:map<string,string>,scored_at:timestamp>")
    assert LABELS_SPEC.schema.simpleString() == (
        "struct<task:string,person_id:bigint,visit_occurrence_id:bigint,index_date:date,label:int,"
        "label_available_date:date>")
    assert MODEL_EVENTS_SPEC.columns == ["event_id", "event_time", "model_name", "action", "from_version",
                                         "to_version", "reason"]
    assert MODEL_TRIGGERS_SPEC.keys == ("model_name", "model_version", "window_start", "kind")
    assert LABEL_REQUESTS_SPEC.keys == ("model_name", "window_start", "policy")
    assert {t.name: t.person_columns for t in TABLES if t.person_columns} == {
        "mlhops.labels": ("person_id",), "mlhops.inference_log": ("person_hash",)}
    for t in TABLES:
        assert set(t.keys) <= set(t.columns), t.name
