"""Run-time device choice for the torch parts of multivariate drift (CUDA when present, else CPU)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)


def select_device(preference: str = "auto") -> torch.device:
    """The torch device to run on.

    Args:
        preference: ``auto`` (CUDA when available, else CPU), ``cpu`` or ``cuda``.

    Returns:
        The chosen device; ``cuda`` asked for on a machine without a GPU falls back to CPU with a
        warning, so the same configuration runs everywhere.
    """
    import torch

    if preference not in ("auto", "cpu", "cuda"):
        from mlhops.errors import ConfigError

        raise ConfigError(f"drift.device must be auto, cpu or cuda, not {preference!r}")
    if preference == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if preference == "cuda":
        logger.warning("drift.device is cuda but no GPU is visible; running on CPU")
    return torch.device("cpu")


def device_name(device: torch.device) -> str:
    """Short description of a device for result rows (``cpu`` or the GPU model)."""
    import torch

    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return "cpu"


@contextlib.contextmanager
def seeded_random(seed: int) -> Iterator[None]:
    """Run a block with torch's and numpy's global RNGs seeded, restoring the caller's states afterwards.

    alibi-detect draws its permutations and the domain classifier's batches from torch's global
    generator, and the classifier's held-out split (``train_size``) from numpy's; seeding both per
    call is what makes a loaded detector give the same p-value as the one that was saved.
    """
    import numpy as np
    import torch

    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    np_state = np.random.get_state()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            np.random.set_state(np_state)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (timings are meaningless without it)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
