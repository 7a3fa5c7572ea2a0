"""Sequential concept-drift detectors on the per-case error stream: CUSUM, Page-Hinkley, DDM, ADWIN.

The stream is the cases of all labelled windows in time order. CUSUM and Page-Hinkley watch
the Brier loss, averaged over blocks of cases and standardised with the reference loss (so the
thresholds are in standard-error units and do not depend on the data set); DDM watches the
per-case misclassification at the operating threshold (Gama et al. 2004). Each detector resets
after an alarm, so later changes are caught too. ADWIN (Bifet & Gavalda 2007, river's
implementation) watches the per-case Brier loss, which is bounded in [0, 1] as its bound
assumes: it keeps the longest recent window whose sub-windows' means do not differ
significantly (confidence ``delta``) and drops the older part when they do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class DetectorRun:
    """What one detector saw over a stream: statistic after each element and alarm positions."""

    detector: str
    threshold: float
    statistic: np.ndarray = field(repr=False)
    alarms: tuple[int, ...]
    warnings: tuple[int, ...] = ()


def block_z(loss: ArrayLike, mean: float, std: float, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Standardised means of consecutive blocks of ``block_size`` cases and each block's last index.

    A trailing partial block is left out (it is completed when the next labels arrive).
    """
    la = np.asarray(loss, dtype=np.float64).ravel()
    n_blocks = la.size // block_size
    if n_blocks == 0 or std <= 0:
        return np.empty(0), np.empty(0, dtype=np.int64)
    means = la[: n_blocks * block_size].reshape(n_blocks, block_size).mean(axis=1)
    z = (means - mean) / (std / math.sqrt(block_size))
    ends = np.arange(1, n_blocks + 1) * block_size - 1
    return z, ends


def cusum(z: ArrayLike, *, k: float, h: float, two_sided: bool = False) -> DetectorRun:
    """CUSUM ``S+ = max(0, S+ + z - k)`` (and ``S- = max(0, S- - z - k)``); alarm and reset above ``h``."""
    za = np.asarray(z, dtype=np.float64)
    stat = np.empty(za.size)
    alarms: list[int] = []
    hi = lo = 0.0
    for i, v in enumerate(za):
        hi = max(0.0, hi + v - k)
        lo = max(0.0, lo - v - k) if two_sided else 0.0
        stat[i] = max(hi, lo)
        if stat[i] > h:
            alarms.append(i)
            hi = lo = 0.0
    return DetectorRun("cusum", h, stat, tuple(alarms))


def page_hinkley(z: ArrayLike, *, delta: float, lam: float, two_sided: bool = False) -> DetectorRun:
    """Page-Hinkley: ``m_t = sum(x - mean_t - delta)``, alarm when ``m_t - min m > lam``.

    ``two_sided`` also watches decreases (the mirrored statistic).
    """
    za = np.asarray(z, dtype=np.float64)
    stat = np.empty(za.size)
    alarms: list[int] = []
    n, mean, up, up_min, down, down_max = 0, 0.0, 0.0, 0.0, 0.0, 0.0
    for i, v in enumerate(za):
        n += 1
        mean += (v - mean) / n
        up += v - mean - delta
        up_min = min(up_min, up)
        down += v - mean + delta
        down_max = max(down_max, down)
        stat[i] = max(up - up_min, (down_max - down) if two_sided else 0.0)
        if stat[i] > lam:
            alarms.append(i)
            n, mean, up, up_min, down, down_max = 0, 0.0, 0.0, 0.0, 0.0, 0.0
    return DetectorRun("page_hinkley", lam, stat, tuple(alarms))


def ddm(errors: ArrayLike, *, min_instances: int, warning_level: float, drift_level: float) -> DetectorRun:
    """Drift Detection Method on a 0/1 error stream (warning at 2 s, drift at 3 s above the minimum)."""
    ea = np.asarray(errors, dtype=np.float64)
    stat = np.zeros(ea.size)
    alarms: list[int] = []
    warnings: list[int] = []
    n, p = 0, 1.0
    p_min, s_min, ps_min = math.inf, math.inf, math.inf
    for i, e in enumerate(ea):
        n += 1
        p += (e - p) / n
        s = math.sqrt(p * (1 - p) / n)
        if n < min_instances:
            continue
        if p + s < ps_min:
            p_min, s_min, ps_min = p, s, p + s
        stat[i] = (p + s - p_min) / s_min if s_min > 0 else 0.0
        if p + s > p_min + drift_level * s_min:
            alarms.append(i)
            n, p = 0, 1.0
            p_min, s_min, ps_min = math.inf, math.inf, math.inf
        elif p + s > p_min + warning_level * s_min:
            warnings.append(i)
    return DetectorRun("ddm", drift_level, stat, tuple(alarms), tuple(warnings))


def adwin(values: ArrayLike, *, delta: float, clock: int = 32, grace_period: int = 10) -> DetectorRun:
    """ADWIN on a stream of values in [0, 1] (river.drift.ADWIN).

    Args:
        values: the stream (e.g. the per-case Brier loss).
        delta: the confidence of the cut test (smaller: fewer, later alarms).
        clock: how often (in elements) the window is checked for a cut.
        grace_period: elements seen before the first check.

    Returns:
        The run: statistic = the mean of the adaptive window after each element; threshold = delta.
    """
    from river.drift import ADWIN  # imported on use: river is only needed by the evaluation

    va = np.asarray(values, dtype=np.float64).ravel()
    det = ADWIN(delta=delta, clock=clock, grace_period=grace_period)
    stat = np.empty(va.size)
    alarms: list[int] = []
    for i, v in enumerate(va):
        det.update(float(v))
        stat[i] = det.estimation
        if det.drift_detected:
            alarms.append(i)
    return DetectorRun("adwin", delta, stat, tuple(alarms))


def alarms_between(run: DetectorRun, positions: Sequence[int] | np.ndarray, start: int, end: int) -> int:
    """Alarms whose stream position (mapped through ``positions``) falls in case range ``[start, end)``."""
    pos = np.asarray(positions)
    return sum(1 for a in run.alarms if start <= int(pos[a]) < end)
