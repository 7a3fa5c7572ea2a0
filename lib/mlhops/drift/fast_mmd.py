"""MMD permutation test computed from one kernel matrix, with all permutations in one matmul.

alibi-detect 0.11.4 ``MMDDriftTorch.score`` builds the (n+m)x(n+m) kernel matrix and then, per
permutation, copies it re-indexed (``K[idx][:, idx]``) and sums three blocks: 100 permutations
of a 10,000-row matrix move ~100 full matrices through memory. The same statistics follow from
the un-permuted matrix: for an assignment vector ``u`` (1 = "reference" side) and zero diagonal,

    s_xx = u'Ku,   s_xy = u'r - u'Ku,   s_yy = 1'r - 2u'r + u'Ku,   r = K1,

so stacking the P assignment vectors as columns of ``U`` needs one product ``K @ U`` (N x P).
Each permutation is the same uniform random split as alibi's, and the statistic is alibi's
unbiased MMD^2 with the same p-value rule (share of permuted statistics >= observed) and the
same threshold rule, so the test is unchanged; only the arithmetic is reorganised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

# Rows of the kernel matrix filled per block: bounds the temporary distance matrix.
KERNEL_BLOCK_ROWS = 4096
# Permutation columns per matmul: N x 128 float32 stays small next to the kernel matrix.
PERMUTATION_BATCH = 128


@dataclass(frozen=True)
class PermutationTest:
    """Outcome of one permutation test."""

    statistic: float
    p_value: float
    threshold: float
    permuted: Any  # torch.Tensor of permuted statistics (kept for diagnostics)


def fill_kernel_matrix(kernel: Any, x_ref: torch.Tensor, x: torch.Tensor, k_xx: torch.Tensor | None = None) -> torch.Tensor:
    """Kernel matrix of ``[x_ref; x]`` with a zero diagonal, allocated once and filled in blocks.

    Args:
        kernel: a callable ``kernel(a, b) -> Tensor`` (an alibi-detect kernel module).
        x_ref: reference rows (n x d).
        x: test rows (m x d), same device and dtype.
        k_xx: the reference block when already known (alibi computes it at detector start-up).

    Returns:
        The (n+m) x (n+m) matrix; the only large allocation of the test.
    """
    import torch

    n, m = x_ref.shape[0], x.shape[0]
    z = torch.cat([x_ref, x], 0)
    out = torch.empty((n + m, n + m), dtype=z.dtype, device=z.device)
    with torch.no_grad():
        if k_xx is not None:
            out[:n, :n] = k_xx.to(dtype=z.dtype)
            for s in range(n, n + m, KERNEL_BLOCK_ROWS):
                e = min(s + KERNEL_BLOCK_ROWS, n + m)
                block = kernel(z[s:e], z).to(z.dtype)
                out[s:e] = block
                out[:n, s:e] = block[:, :n].T
        else:
            for s in range(0, n + m, KERNEL_BLOCK_ROWS):
                e = min(s + KERNEL_BLOCK_ROWS, n + m)
                out[s:e] = kernel(z[s:e], z).to(z.dtype)
        out.fill_diagonal_(0.0)
    return out


def assignment_matrix(n_all: int, n_ref: int, n_permutations: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Column p marks the rows drawn into the reference side by permutation p (float32 0/1)."""
    import torch

    u = torch.zeros((n_all, n_permutations), dtype=torch.float32)
    for p in range(n_permutations):
        idx = torch.randperm(n_all, generator=generator)[:n_ref]
        u[idx, p] = 1.0
    return u.to(device)


def mmd2_for_assignments(kernel_mat: torch.Tensor, u: torch.Tensor, row_sums: torch.Tensor | None = None) -> torch.Tensor:
    """Unbiased MMD^2 for each assignment column of ``u`` (zero-diagonal ``kernel_mat``).

    Args:
        kernel_mat: (N x N) kernel matrix with zero diagonal.
        u: (N x P) 0/1 matrix, each column with n ones (the reference side).
        row_sums: ``kernel_mat.sum(1)`` in float64, when already computed.

    Returns:
        P statistics (float64), equal to alibi-detect's ``mmd2_from_kernel_matrix`` on the
        correspondingly permuted matrix.
    """
    import torch

    n_all = kernel_mat.shape[0]
    n = int(u[:, 0].sum().item())
    m = n_all - n
    r = kernel_mat.sum(1, dtype=torch.float64) if row_sums is None else row_sums
    total = r.sum()
    ku = (kernel_mat @ u.to(kernel_mat.dtype)).to(torch.float64)
    u64 = u.to(torch.float64)
    s_xx = (u64 * ku).sum(0)
    ur = u64.T @ r
    s_xy = ur - s_xx
    s_yy = total - 2.0 * ur + s_xx
    return s_xx / (n * (n - 1)) + s_yy / (m * (m - 1)) - 2.0 * s_xy / (n * m)


def mmd_permutation_test(
    kernel_mat: torch.Tensor, n_ref: int, n_permutations: int, alpha: float, seed: int
) -> PermutationTest:
    """Permutation test of the MMD^2 between the first ``n_ref`` rows and the rest.

    Args:
        kernel_mat: zero-diagonal kernel matrix of ``[x_ref; x]``.
        n_ref: number of reference rows.
        n_permutations: permutations drawn (alibi's ``n_permutations``).
        alpha: significance level (alibi's ``p_val``), used for the threshold.
        seed: seeds the permutations (same seed, same sample -> same p-value).

    Returns:
        Observed statistic, p-value, and the permuted-statistic threshold at ``alpha``.
    """
    import torch

    n_all = kernel_mat.shape[0]
    device = kernel_mat.device
    gen = torch.Generator().manual_seed(seed)
    r = kernel_mat.sum(1, dtype=torch.float64)
    observed_u = torch.zeros((n_all, 1), dtype=torch.float32, device=device)
    observed_u[:n_ref] = 1.0
    observed = mmd2_for_assignments(kernel_mat, observed_u, r)[0]
    permuted = []
    for start in range(0, n_permutations, PERMUTATION_BATCH):
        p = min(PERMUTATION_BATCH, n_permutations - start)
        permuted.append(mmd2_for_assignments(kernel_mat, assignment_matrix(n_all, n_ref, p, gen, device), r))
    perm = torch.cat(permuted).cpu()
    observed_f = float(observed.cpu())
    p_value = float((observed_f <= perm).double().mean())
    idx_threshold = int(alpha * n_permutations)
    threshold = float(torch.sort(perm, descending=True).values[idx_threshold])
    return PermutationTest(statistic=observed_f, p_value=p_value, threshold=threshold, permuted=perm)
