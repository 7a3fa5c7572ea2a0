"""Metric series over windows: one MLflow run per series, one point per window.

Each window's metrics are logged with ``step`` = the ordinal of the window's start date and
``timestamp`` = the window start (UTC midnight), so MLflow charts them over time. The run of a
series is found again on later nights by its tags, and a window re-evaluated with more labels
adds a point at the same step (the Delta tables hold the current values).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlhops.tracking.tracker import Tracker

# MLflow accepts at most this many metrics in one log_batch call.
MAX_BATCH_METRICS = 1000
# Tag marking the runs that hold a series (and only those).
SERIES_TAG = "mlhops.series"


@dataclass(frozen=True)
class SeriesPoint:
    """The metrics of one window."""

    window_start: dt.date
    metrics: Mapping[str, float]


def step_of(window_start: dt.date) -> int:
    """The MLflow step of a window: the proleptic Gregorian ordinal of its start date."""
    return window_start.toordinal()


def timestamp_of(window_start: dt.date) -> int:
    """The MLflow timestamp of a window: its start (UTC midnight) in epoch milliseconds.

    MLflow refuses negative timestamps, and historic extracts hold windows before 1970: those are
    stamped at the epoch (0); their step still orders them.
    """
    start = dt.datetime.combine(window_start, dt.time(), tzinfo=dt.timezone.utc)
    return max(0, int(start.timestamp() * 1000))


def _filter(tags: Mapping[str, str]) -> str:
    for k, v in tags.items():
        if "'" in v or "`" in k:
            raise ValueError(f"series tag {k!r} cannot hold quotes")
    return " and ".join(f"tags.`{k}` = '{v}'" for k, v in sorted(tags.items()))


def series_run(tracker: Tracker, *, series: str, tags: Mapping[str, str], run_name: str) -> str:
    """The id of the run holding a series, created (finished, empty) on first use.

    Args:
        tracker: the MLflow tracker.
        series: the kind of series (tagged ``mlhops.series``).
        tags: the series' identity (e.g. model, version, window kind); all must match.
        run_name: the run's name when created.
    """
    experiment = tracker.configure()
    client = tracker.client()
    identity = {SERIES_TAG: series, "mlhops.environment": tracker.environment, **tags}
    found = client.search_runs([experiment], filter_string=_filter(identity), max_results=1,
                               order_by=["attributes.start_time ASC"])
    if found:
        return str(found[0].info.run_id)
    run = client.create_run(experiment, tags={**identity, "mlhops.stage": series}, run_name=run_name)
    client.set_terminated(run.info.run_id)
    return str(run.info.run_id)


def log_series(tracker: Tracker, run_id: str, points: Sequence[SeriesPoint]) -> int:
    """Log each point's finite metrics at its window's step and timestamp; returns how many.

    A point the run already holds (same metric, step and value: a window re-evaluated with no new
    labels, every night) is not logged again: the store refuses exact duplicates, and a series
    should not grow by a copy of itself each night.
    """
    from mlflow.entities import Metric

    client = tracker.client()
    keys = {key for p in points for key in p.metrics}
    held = {(m.key, m.step, m.value) for key in sorted(keys) for m in client.get_metric_history(run_id, key)}
    metrics, seen = [], set(held)
    for p in points:
        for key, value in sorted(p.metrics.items()):
            point = (key, step_of(p.window_start), float(value))
            if value != value or point in seen:
                continue
            seen.add(point)
            metrics.append(Metric(key, float(value), timestamp_of(p.window_start), point[1]))
    for i in range(0, len(metrics), MAX_BATCH_METRICS):
        client.log_batch(run_id, metrics=metrics[i:i + MAX_BATCH_METRICS])
    return len(metrics)
