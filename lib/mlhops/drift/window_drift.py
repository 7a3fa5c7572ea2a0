"""Univariate drift of the stats stage's window states, written to ``mlhops.drift_metrics``.

Each target window's state is paired with its references (the baseline state, the previous
window of the same granularity) and tested (:mod:`mlhops.drift.univariate_spark`). A profile
run hands its new states to :class:`WindowStatesDrift` (a
:class:`~mlhops.stats.consumers.StatesConsumer`): a night's few windows are tested on the
driver and their rows replaced; a full run's every window on the executors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.frames import union_all
from mlhops.config.stages import UnivariateDriftSettings
from mlhops.drift import univariate_spark as UD
from mlhops.errors import ConfigError
from mlhops.io import Catalog, replace_where, table_exists, write_overwrite
from mlhops.io.tables.monitoring import BINS_SCHEMA, DRIFT_METRICS
from mlhops.stats import windows as W
from mlhops.stats.baseline import BASELINE
from mlhops.stats.consumers import StatesUpdate
from mlhops.stats.increment import windows_predicate
from mlhops.stats.writes import overwrite_by_window

# Drift target windows up to which an increment's tests run on the driver (a night: about 4).
DRIVER_DRIFT_WINDOWS = 16


def drift_targets(windows: Mapping[str, Sequence[dt.date]], cfg: UnivariateDriftSettings) -> dict[str, list[dt.date]]:
    """Windows whose drift results change: the recomputed ones and the window after each (it
    compares against the changed one as "previous").

    Raises:
        ConfigError: a drift granularity that is not a tumbling one.
    """
    targets: dict[str, list[dt.date]] = {}
    for gran in cfg.granularities:
        if gran not in W.TUMBLING:
            raise ConfigError(f"stats.drift.granularities: {gran!r} is not a tumbling granularity")
        starts = set(windows.get(gran, []))
        starts |= {W.window_end(s, gran) for s in starts}
        targets[gran] = sorted(starts)
    return targets


class WindowStatesDrift:
    """Univariate drift of window states against the baseline and the previous window.

    Args:
        spark: the session.
        catalog: table locations.
        cfg: the ``stats.drift`` settings.
    """

    def __init__(self, spark: SparkSession, catalog: Catalog, cfg: UnivariateDriftSettings) -> None:
        self.spark = spark
        self.catalog = catalog
        self.cfg = cfg

    def reads(self, windows: Mapping[str, Sequence[dt.date]]) -> dict[str, list[dt.date]]:
        """The target windows and the windows before them (their "previous" reference)."""
        targets = drift_targets(windows, self.cfg)
        return {g: sorted({*starts, *(W.previous_start(s, g) for s in starts)}) for g, starts in targets.items()}

    def write(self, update: StatesUpdate) -> int:
        """Drift results of the target windows of ``update`` (every window when it is a full
        recompute); ``update.states`` must hold them, their previous windows and the baseline.

        Returns:
            The number of target windows.
        """
        targets = drift_targets(update.windows, self.cfg)
        if not self.cfg.references:
            return 0
        results = self._results(update, targets)
        if update.everything:
            overwrite_by_window(results, self.catalog, DRIFT_METRICS)
        else:
            pred = windows_predicate(targets, ts=True)
            if not table_exists(self.spark, self.catalog, DRIFT_METRICS):
                write_overwrite(results, self.catalog, DRIFT_METRICS)
            else:
                replace_where(results.where(pred), self.catalog, DRIFT_METRICS, pred)
        return sum(len(v) for v in targets.values())

    def _results(self, update: StatesUpdate, targets: dict[str, list[dt.date]]) -> DataFrame:
        """Tested pairs: on the driver for a night's few windows, on the executors otherwise."""
        states, cfg = update.states, self.cfg
        bins = self.spark.createDataFrame(sorted(update.edges.items()), BINS_SCHEMA)
        current = states.where(F.col("granularity").isin(list(cfg.granularities)))
        if not update.everything:
            current = current.where(windows_predicate(targets))
        parts: list[DataFrame] = []
        if "baseline" in cfg.references:
            parts.append(UD.pair_with_baseline(current, states.where(F.col("granularity") == BASELINE), bins))
        if "previous" in cfg.references:
            parts.append(UD.pair_with_previous(current, states, bins))
        pairs = union_all(parts)
        on_driver = not update.everything and sum(len(v) for v in targets.values()) <= DRIVER_DRIFT_WINDOWS
        return UD.test_pairs_on_driver(pairs, cfg) if on_driver else UD.test_pairs(pairs, cfg)
