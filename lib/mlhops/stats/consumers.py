"""What a profile run hands on: the window states it recomputed, to the results computed from
them (univariate drift), and the counts of what it did.

``stats`` never imports ``drift``: the stats stage (:mod:`mlhops.pipelines.stats`) passes a
:class:`StatesConsumer` in, and a run calls it with its new states, so a night's drift results
are committed side by side with its states and metrics from the same checkpointed states.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pyspark.sql import DataFrame


@dataclass
class ProfileRun:
    """What one run recomputed (for the stage result)."""

    days: int = 0
    windows: dict[str, int] = field(default_factory=dict)
    baseline_recomputed: bool = False
    drift_windows: int = 0


@dataclass(frozen=True)
class StatesUpdate:
    """Window states of a run, for a consumer.

    Attributes:
        states: the states the consumer reads: every recomputed window, the stored windows it
            asked for (:meth:`StatesConsumer.reads`) and the baseline.
        edges: histogram bin edges per numeric feature (``mlhops.profile_bins``).
        windows: the recomputed windows, ``{granularity: [start, ...]}``.
        everything: a full recompute: every window of ``states`` is new, not only ``windows``.
    """

    states: DataFrame
    edges: Mapping[str, Sequence[float]]
    windows: Mapping[str, Sequence[dt.date]]
    everything: bool


class StatesConsumer(Protocol):
    """Results computed from window states and written with them (univariate drift)."""

    def reads(self, windows: Mapping[str, Sequence[dt.date]]) -> dict[str, list[dt.date]]:
        """Windows (``{granularity: [start, ...]}``) it reads when ``windows`` are recomputed,
        so a nightly run loads them with the other stored states it needs."""
        ...

    def write(self, update: StatesUpdate) -> int:
        """Compute and write its results; returns the number of windows written."""
        ...
