"""drift fit on a small reference period: the reference gets min_rows rows, the fit keeps the rest, disjoint."""

from __future__ import annotations

import pytest

from mlhops.drift.multivariate import MIN_FIT_ROWS, ensure_reference_rows
from mlhops.errors import ConfigError


def test_large_enough_reference_is_left_as_split(uci_samples):
    fit, ref, _ = uci_samples
    r, f = ensure_reference_rows(ref.head(300), fit.head(300), min_rows=200)
    assert r.equals(ref.head(300)) and f.equals(fit.head(300))


def test_small_reference_takes_the_first_fit_rows_and_both_stay_disjoint(uci_samples):
    fit, ref, _ = uci_samples
    r, f = ensure_reference_rows(ref.head(140), fit.head(150), min_rows=200)
    assert len(r) == 200 and len(f) == 90
    assert list(r["encounter_id"].tail(60)) == list(fit["encounter_id"].head(60))
    assert not set(r["encounter_id"]) & set(f["encounter_id"])


def test_too_small_reference_period_is_refused(uci_samples):
    fit, ref, _ = uci_samples
    with pytest.raises(ConfigError, match="min_rows=200"):
        ensure_reference_rows(ref.head(140), fit.head(59 + MIN_FIT_ROWS), min_rows=200)
