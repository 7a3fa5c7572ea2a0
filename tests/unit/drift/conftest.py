"""Fixtures for the multivariate drift tests: disjoint UCI fit/reference/current samples and a fitted suite."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.unit.drift.uci import FEATURES, load_uci
from tests.conftest import reads_shared_data

# Small enough for the shared 2-core machine, large enough for the planted shifts to show.
N_ROWS = 600


@pytest.fixture(scope="session")
@reads_shared_data
def uci_samples() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Disjoint fit, reference and current samples of the same population (seeded)."""
    df = load_uci(nrows=20000)
    ref = df.sample(N_ROWS, random_state=11)
    cur = df.drop(ref.index).sample(N_ROWS, random_state=12)
    fit = df.drop(ref.index).drop(cur.index).sample(N_ROWS, random_state=13)
    return fit.reset_index(drop=True), ref.reset_index(drop=True), cur.reset_index(drop=True)


@pytest.fixture(scope="session")
def uci_frames(uci_samples) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Disjoint reference and current samples of the same population (seeded)."""
    return uci_samples[1], uci_samples[2]


@pytest.fixture(scope="session")
def fitted_suite(uci_samples):
    """Preprocessing and VAE fitted on the fit sample, detectors built on the disjoint reference sample."""
    from mlhops.drift.detectors import SuiteConfig, fit_suite

    fit, ref, _ = uci_samples
    cfg = SuiteConfig(vae_epochs=15, n_permutations=100, classifier_epochs=3, classifier_folds=3, latent_dim=6, device="cpu")
    return fit_suite(ref, FEATURES, cfg, fit_sample=fit, meta={"reference_start": "2020-01-01"})
