"""A metric series logs each window's point once: re-evaluating a window with no new labels (every
night) adds nothing, a changed value adds a point at the same step."""

from __future__ import annotations

import datetime as dt

from mlhops.config.model import MlflowSettings
from mlhops.tracking.series import SeriesPoint, log_series, series_run, step_of
from mlhops.tracking.tracker import Tracker


def test_a_window_evaluated_again_with_the_same_values_logs_nothing_new(tmp_path):
    tracker = Tracker(MlflowSettings(), environment="test", local_dir=str(tmp_path / "mlflow"))
    run_id = series_run(tracker, series="evaluation", tags={"mlhops.model": "m", "mlhops.version": "1"},
                        run_name="evaluation m v1")
    weeks = [SeriesPoint(dt.date(1929, 1, 7), {"auroc": 0.71, "brier": 0.2}),
             SeriesPoint(dt.date(2024, 1, 1), {"auroc": 0.74, "brier": float("nan")})]
    assert log_series(tracker, run_id, weeks) == 3
    assert log_series(tracker, run_id, weeks) == 0  # the SQL store refused these duplicates before
    later = [SeriesPoint(dt.date(2024, 1, 1), {"auroc": 0.76})]
    assert log_series(tracker, run_id, later) == 1
    history = tracker.client().get_metric_history(run_id, "auroc")
    assert sorted((m.step, m.value) for m in history) == [
        (step_of(dt.date(1929, 1, 7)), 0.71), (step_of(dt.date(2024, 1, 1)), 0.74), (step_of(dt.date(2024, 1, 1)), 0.76)]
