"""Univariate drift tests computed from window *states*, never from raw rows.

Numeric features arrive as two quantile functions read from the KLL sketches at the same
``GRID_RANKS`` (midpoints of ``GRID_SIZE`` equal rank intervals), categorical ones as category
counts. Each quantile vector is a pseudo-sample whose ECDF is within 1/GRID_SIZE plus the
sketch's rank error (0 while a sketch holds at most k values) of the sample's ECDF. From those:

* ``ks``: two-sample Kolmogorov-Smirnov D = largest ECDF gap; p-value by Smirnov's asymptotic
  distribution with the true sample sizes, as ``scipy.stats.ks_2samp(method="asymp")``
  (``kstwo.sf(D, round(n*m/(n+m)))``). |D - D_exact| <= 2/GRID_SIZE + 2 * rank error.
  Effect size: D itself.
* ``wasserstein``: integral over u of |Q_ref(u) - Q_cur(u)| (``scipy.stats.wasserstein_distance``
  of the samples, within the grid resolution); effect size: distance / reference std.
* ``chi2``: Pearson chi-squared on the 2 x K table of category counts
  (``scipy.stats.chi2_contingency(correction=False)``); effect size: Cramer's V.
* ``psi``, ``js`` (Jensen-Shannon distance, base 2), ``linf`` (largest absolute difference of
  bin or category proportions): distances over the baseline's fixed bins (numeric) or the
  union of categories.

Tests are corrected across features per window, slice and reference (Benjamini-Hochberg or
Bonferroni); a test flags drift only when the corrected p-value is below alpha *and* the effect
size reaches its minimum, so a huge window does not alarm on a trivial shift. Below
``min_samples`` on either side no test runs (status ``insufficient_data``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

# Proportions are floored at this before logs (PSI, empty bins on one side).
PSI_EPSILON = 1e-4
# Ranks at which each sketch's quantiles seed the common evaluation grid.
GRID_SIZE = 1000
GRID_RANKS: tuple[float, ...] = tuple((i + 0.5) / GRID_SIZE for i in range(GRID_SIZE))

TEST_DETECTORS = ("ks", "chi2")


@dataclass(frozen=True)
class TestOutcome:
    """One detector's numbers before the multiple-testing correction."""

    detector: str
    statistic: float | None
    p_value: float | None = None
    effect_size: float | None = None
    effect_size_name: str | None = None
    extra: Mapping[str, float] | None = None


def ks_from_quantiles(q_ref: np.ndarray, q_cur: np.ndarray, n_ref: int, n_cur: int) -> TestOutcome:
    """Two-sample KS from both quantile functions on the common rank grid.

    Each quantile vector is a pseudo-sample of the grid size whose ECDF is within 1/grid (plus
    the sketch's rank error) of the true ECDF; D is their largest ECDF gap, the p-value uses the
    true sample sizes.
    """
    a = np.sort(np.asarray(q_ref, dtype=float))
    b = np.sort(np.asarray(q_cur, dtype=float))
    if len(a) == 0 or len(b) == 0:
        return TestOutcome("ks", None, None, None, "ks_d")
    points = np.concatenate([a, b])
    d = float(np.max(np.abs(np.searchsorted(a, points, "right") / len(a) - np.searchsorted(b, points, "right") / len(b))))
    m, n = sorted([float(n_ref), float(n_cur)], reverse=True)
    en = int(np.round(m * n / (m + n))) if m + n > 0 else 0
    p = float(np.clip(sps.kstwo.sf(d, en), 0.0, 1.0)) if en >= 1 else 1.0
    return TestOutcome("ks", d, p, d, "ks_d")


def wasserstein_from_quantiles(q_ref: np.ndarray, q_cur: np.ndarray, ref_std: float | None) -> TestOutcome:
    """Wasserstein-1 = integral over u of |Q_ref(u) - Q_cur(u)| (midpoint rule on the grid)."""
    a = np.sort(np.asarray(q_ref, dtype=float))
    b = np.sort(np.asarray(q_cur, dtype=float))
    if len(a) == 0 or len(a) != len(b):
        return TestOutcome("wasserstein", None, None, None, "wasserstein_over_std")
    dist = float(np.mean(np.abs(a - b)))
    effect = dist / ref_std if ref_std and ref_std > 0 else None
    return TestOutcome("wasserstein", dist, None, effect, "wasserstein_over_std")


def hist_from_quantiles(q: np.ndarray, edges: Sequence[float], n: int) -> np.ndarray:
    """Bin counts over ``(-inf, e1], (e1, e2], ..., (ek, inf)`` from a quantile pseudo-sample."""
    q = np.asarray(q, dtype=float)
    idx = np.searchsorted(np.asarray(edges, dtype=float), q, side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(float)
    return counts / max(len(q), 1) * float(n)


def chi2_from_counts(ref: Mapping[str, float], cur: Mapping[str, float]) -> TestOutcome:
    """Pearson chi-squared of homogeneity on the 2 x K table; Cramer's V as effect size."""
    cats = sorted(k for k in set(ref) | set(cur) if (ref.get(k, 0) or 0) + (cur.get(k, 0) or 0) > 0)
    table = np.array([[ref.get(k, 0) or 0 for k in cats], [cur.get(k, 0) or 0 for k in cats]], dtype=float)
    total = table.sum()
    if len(cats) < 2 or table[0].sum() == 0 or table[1].sum() == 0:
        return TestOutcome("chi2", 0.0, 1.0, 0.0, "cramers_v", {"dof": 0.0})
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / total
    stat = float(np.sum((table - expected) ** 2 / expected))
    dof = len(cats) - 1
    p = float(sps.chi2.sf(stat, dof))
    v = math.sqrt(stat / total)  # min(rows, cols) - 1 == 1 for a 2 x K table
    return TestOutcome("chi2", stat, p, v, "cramers_v", {"dof": float(dof)})


def proportions(counts: np.ndarray) -> np.ndarray:
    """Counts -> proportions (all zeros stay zeros)."""
    counts = np.clip(np.asarray(counts, dtype=float), 0.0, None)
    total = counts.sum()
    return counts / total if total > 0 else counts


def psi(p_ref: np.ndarray, p_cur: np.ndarray) -> float:
    """Population stability index sum((cur - ref) * ln(cur / ref)), proportions floored."""
    r = np.clip(p_ref, PSI_EPSILON, None)
    c = np.clip(p_cur, PSI_EPSILON, None)
    return float(np.sum((c - r) * np.log(c / r)))


def js_distance(p_ref: np.ndarray, p_cur: np.ndarray) -> float:
    """Jensen-Shannon distance, base 2 (in [0, 1]); as ``scipy.spatial.distance.jensenshannon``."""
    p = proportions(p_ref)
    q = proportions(p_cur)
    m = (p + q) / 2.0

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    return math.sqrt(max(0.0, (kl(p) + kl(q)) / 2.0))


def linf(p_ref: np.ndarray, p_cur: np.ndarray) -> float:
    """Largest absolute difference of proportions (TFDV's L-infinity distance)."""
    return float(np.max(np.abs(np.asarray(p_ref) - np.asarray(p_cur)))) if len(p_ref) else 0.0


def distances(ref_counts: np.ndarray, cur_counts: np.ndarray) -> dict[str, float]:
    """PSI, JS distance and L-infinity between two binned count vectors."""
    p, q = proportions(ref_counts), proportions(cur_counts)
    return {"psi": psi(p, q), "js": js_distance(p, q), "linf": linf(p, q)}


def adjust_pvalues(p_values: Sequence[float], method: str) -> np.ndarray:
    """Multiple-testing correction: ``bh`` (Benjamini-Hochberg), ``bonferroni`` or ``none``."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0 or method == "none":
        return p.copy()
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    if method != "bh":
        raise ValueError(f"unknown p-value correction {method!r}")
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def flag_tests(
    outcomes: Sequence[TestOutcome],
    *,
    alpha: float,
    correction: str,
    min_effect: Mapping[str, float],
) -> list[tuple[float | None, bool]]:
    """Corrected p-value and drift flag of each outcome; only KS/chi2 tests take part."""
    idx = [i for i, o in enumerate(outcomes) if o.detector in TEST_DETECTORS and o.p_value is not None]
    adjusted = adjust_pvalues([outcomes[i].p_value for i in idx], correction)  # type: ignore[misc]
    result: list[tuple[float | None, bool]] = [(None, False)] * len(outcomes)
    for i, p_adj in zip(idx, adjusted):
        o = outcomes[i]
        big_enough = (o.effect_size or 0.0) >= min_effect.get(o.detector, 0.0)
        result[i] = (float(p_adj), bool(p_adj < alpha and big_enough))
    return result
