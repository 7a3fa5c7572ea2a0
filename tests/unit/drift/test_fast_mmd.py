"""The batched permutation test computes alibi-detect's MMD^2 statistics exactly."""

from __future__ import annotations

import numpy as np
import torch
from alibi_detect.cd import MMDDrift
from alibi_detect.utils.pytorch.distance import mmd2_from_kernel_matrix

from mlhops.drift.fast_mmd import fill_kernel_matrix, mmd2_for_assignments, mmd_permutation_test


def _kernel(n: int = 120, m: int = 80, shift: float = 0.0):
    rng = np.random.default_rng(3)
    x_ref = rng.normal(size=(n, 5)).astype(np.float32)
    x = (rng.normal(size=(m, 5)) + shift).astype(np.float32)
    det = MMDDrift(x_ref, backend="pytorch", n_permutations=50, device="cpu")
    inner = det._detector
    kmat = fill_kernel_matrix(inner.kernel, torch.from_numpy(x_ref), torch.from_numpy(x), inner.k_xx)
    return det, x, kmat


def test_permuted_statistics_equal_alibi_on_the_same_permutations():
    _, _, kmat = _kernel()
    n_all, m = kmat.shape[0], 80
    gen = torch.Generator().manual_seed(5)
    perms = [torch.randperm(n_all, generator=gen) for _ in range(7)]
    u = torch.zeros((n_all, len(perms)))
    expected = []
    for p, idx in enumerate(perms):
        u[idx[: n_all - m], p] = 1.0
        expected.append(float(mmd2_from_kernel_matrix(kmat[idx][:, idx], m, permute=False, zero_diag=False)))
    got = mmd2_for_assignments(kmat, u).numpy()
    # alibi sums float32 blocks; ours accumulates in float64: agreement to float32 rounding, far
    # below the spread of the permuted statistics (~1e-3 here).
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert np.std(expected) > 1e-3


def test_observed_statistic_equals_alibi_predict_distance():
    det, x, kmat = _kernel(shift=1.0)
    res = mmd_permutation_test(kmat, 120, 50, 0.05, seed=1)
    alibi = det.predict(x)["data"]
    assert abs(res.statistic - float(alibi["distance"])) < 1e-6 * max(1.0, abs(res.statistic))
    assert res.p_value == 0.0 and alibi["p_val"] == 0.0


def test_same_seed_same_p_value_and_null_p_value_is_not_small():
    _, _, kmat = _kernel(shift=0.0)
    a = mmd_permutation_test(kmat, 120, 200, 0.05, seed=9)
    b = mmd_permutation_test(kmat, 120, 200, 0.05, seed=9)
    assert a.p_value == b.p_value and a.threshold == b.threshold
    assert a.p_value > 0.05
    assert a.permuted.shape == (200,)
