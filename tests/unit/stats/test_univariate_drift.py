"""Univariate drift math on stored-state summaries, checked against SciPy on the same samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from mlhops.drift import univariate as U
from tests.conftest import reads_shared_data, shared_path

GRID = np.asarray(U.GRID_RANKS)
# |D - D_exact| bound of the grid (the sketch is exact at these sample sizes).
KS_GRID_BOUND = 2.0 / U.GRID_SIZE


def grid_quantiles(x: np.ndarray) -> np.ndarray:
    """What an exact KLL sketch answers at the grid ranks (smallest value with ECDF >= rank)."""
    return np.quantile(np.asarray(x, float), GRID, method="inverted_cdf")


@pytest.fixture(scope="module")
@reads_shared_data
def diabetes() -> pd.DataFrame:
    path = shared_path("uci_diabetes_130_us_hospitals")
    csv = next(p for p in sorted(path.rglob("diabetic_data*")) if p.suffix in (".csv", ".gz"))
    return pd.read_csv(csv, na_values="?", low_memory=False)


NUMERIC = ["time_in_hospital", "num_lab_procedures", "num_procedures", "num_medications", "number_diagnoses"]
CATEGORICAL = ["race", "gender", "admission_type_id", "max_glu_serum", "A1Cresult"]


def test_ks_statistic_and_p_value_match_scipy_on_the_same_samples(diabetes):
    rng = np.random.default_rng(7)
    for col in NUMERIC:
        values = diabetes[col].dropna().to_numpy(float)
        a = rng.choice(values, 800, replace=False)
        b = rng.choice(values, 600, replace=False) + (0.5 if col == "num_medications" else 0.0)
        ours = U.ks_from_quantiles(grid_quantiles(a), grid_quantiles(b), len(a), len(b))
        ref = sps.ks_2samp(a, b, method="asymp")
        assert abs(ours.statistic - ref.statistic) <= KS_GRID_BOUND
        assert ours.p_value == pytest.approx(float(sps.kstwo.sf(ours.statistic, round(800 * 600 / 1400))))
        assert ours.p_value == pytest.approx(ref.pvalue, abs=0.05)


def test_ks_is_exact_for_continuous_samples_when_the_grid_covers_them():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 500), rng.normal(0.3, 1, 500)
    ours = U.ks_from_quantiles(grid_quantiles(a), grid_quantiles(b), 500, 500)
    assert ours.statistic == pytest.approx(sps.ks_2samp(a, b).statistic, abs=KS_GRID_BOUND)


def test_ks_on_raw_samples_is_scipys_asymptotic_two_sample_test():
    # Imaging drift tests raw parameter values with it (ties included: pixel spacing, matrix size).
    rng = np.random.default_rng(5)
    for n, m in ((20, 20), (37, 211), (400, 90)):
        a = np.round(rng.normal(0, 1, n), 1)
        b = np.round(rng.normal(0.4, 1, m), 1)
        ours = U.ks_from_quantiles(a, b, n, m)
        ref = sps.ks_2samp(a, b, method="asymp")
        assert ours.statistic == float(ref.statistic) and ours.p_value == float(ref.pvalue)


def test_wasserstein_matches_scipy_within_grid_resolution(diabetes):
    rng = np.random.default_rng(11)
    values = diabetes["num_lab_procedures"].dropna().to_numpy(float)
    a, b = rng.choice(values, 1000), rng.choice(values, 1000) * 1.1
    ours = U.wasserstein_from_quantiles(grid_quantiles(a), grid_quantiles(b), float(np.std(a, ddof=1)))
    exact = sps.wasserstein_distance(a, b)
    assert ours.statistic == pytest.approx(exact, rel=0.01)
    assert ours.effect_size == pytest.approx(ours.statistic / np.std(a, ddof=1))


def test_chi_squared_and_cramers_v_match_scipy_on_category_counts(diabetes):
    rng = np.random.default_rng(5)
    for col in CATEGORICAL:
        s = diabetes[col].fillna("missing").astype(str)
        a = s.sample(3000, random_state=int(rng.integers(1 << 30)))
        b = s.sample(2000, random_state=int(rng.integers(1 << 30)))
        ca, cb = a.value_counts().to_dict(), b.value_counts().to_dict()
        ours = U.chi2_from_counts(ca, cb)
        cats = sorted(set(ca) | set(cb))
        table = np.array([[ca.get(c, 0) for c in cats], [cb.get(c, 0) for c in cats]])
        stat, p, dof, _ = sps.chi2_contingency(table, correction=False)
        assert ours.statistic == pytest.approx(stat)
        assert ours.p_value == pytest.approx(p)
        assert ours.extra["dof"] == dof
        assert ours.effect_size == pytest.approx(np.sqrt(stat / table.sum()))


def test_distances_match_their_definitions():
    p = np.array([10.0, 20.0, 30.0, 40.0])
    q = np.array([25.0, 25.0, 25.0, 25.0])
    d = U.distances(p, q)
    pp, qq = p / p.sum(), q / q.sum()
    assert d["js"] == pytest.approx(jensenshannon(pp, qq, base=2))
    assert d["psi"] == pytest.approx(float(np.sum((qq - pp) * np.log(qq / pp))))
    assert d["linf"] == pytest.approx(0.15)


def test_histogram_from_quantiles_counts_values_per_bin_within_grid_error():
    rng = np.random.default_rng(1)
    x = rng.normal(size=900)
    edges = [-1.0, 0.0, 1.0]
    exact = np.histogram(x, bins=[-np.inf, -1.0, 0.0, 1.0, np.inf])[0]
    ours = U.hist_from_quantiles(grid_quantiles(x), edges, len(x))
    assert np.all(np.abs(ours - exact) <= len(x) / U.GRID_SIZE + 1)


def test_benjamini_hochberg_and_bonferroni_match_reference_values():
    p = [0.01, 0.04, 0.03, 0.005, 0.5]
    bh = U.adjust_pvalues(p, "bh")
    # statsmodels.multipletests(method="fdr_bh") gives these for the same input
    assert bh == pytest.approx([0.025, 0.05, 0.05, 0.025, 0.5])
    assert U.adjust_pvalues(p, "bonferroni") == pytest.approx([0.05, 0.2, 0.15, 0.025, 1.0])
    assert U.adjust_pvalues(p, "none") == pytest.approx(p)


def test_a_significant_but_tiny_shift_is_not_flagged():
    big = U.TestOutcome("ks", 0.02, 1e-9, 0.02, "ks_d")
    real = U.TestOutcome("ks", 0.3, 1e-9, 0.3, "ks_d")
    flags = U.flag_tests([big, real], alpha=0.05, correction="bh", min_effect={"ks": 0.1})
    assert [f for _, f in flags] == [False, True]


def test_unshifted_splits_alarm_no_more_often_than_alpha(diabetes):
    """Many random splits of one population; an alarm is any flagged feature in a split."""
    alpha, splits, size = 0.05, 400, 1500
    rng = np.random.default_rng(2024)
    numeric = diabetes[NUMERIC].to_numpy(float)
    codes = [pd.factorize(diabetes[c].fillna("missing").astype(str))[0] for c in CATEGORICAL]
    alarms = 0
    for _ in range(splits):
        idx = rng.permutation(len(diabetes))[: 2 * size]
        a, b = idx[:size], idx[size:]
        outcomes = [
            U.ks_from_quantiles(grid_quantiles(numeric[a, j]), grid_quantiles(numeric[b, j]), size, size)
            for j in range(len(NUMERIC))
        ]
        for c in codes:
            k = c.max() + 1
            ca, cb = np.bincount(c[a], minlength=k), np.bincount(c[b], minlength=k)
            outcomes.append(U.chi2_from_counts(dict(enumerate(ca)), dict(enumerate(cb))))
        flags = U.flag_tests(outcomes, alpha=alpha, correction="bh", min_effect={"ks": 0.0, "chi2": 0.0})
        alarms += any(f for _, f in flags)
    # Binomial upper bound: alpha plus three standard errors over the splits.
    assert alarms / splits <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / splits)


def test_a_planted_shift_is_detected_in_the_shifted_feature_only(diabetes):
    rng = np.random.default_rng(99)
    data = diabetes[NUMERIC].dropna()
    idx = rng.permutation(len(data))[:4000]
    a, b = data.iloc[idx[:2000]], data.iloc[idx[2000:]].copy()
    b["num_lab_procedures"] = b["num_lab_procedures"] * 1.3  # e.g. a changed lab panel
    outcomes = [
        U.ks_from_quantiles(grid_quantiles(a[c].to_numpy(float)), grid_quantiles(b[c].to_numpy(float)), 2000, 2000)
        for c in NUMERIC
    ]
    flags = U.flag_tests(outcomes, alpha=0.05, correction="bh", min_effect={"ks": 0.1})
    flagged = [c for c, (_, f) in zip(NUMERIC, flags) if f]
    assert flagged == ["num_lab_procedures"]
