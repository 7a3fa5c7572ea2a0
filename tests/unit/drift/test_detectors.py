"""Detector suite on real clinical data: round-trip identity and planted shifts (CPU only)."""

from __future__ import annotations

import numpy as np
import pytest

from mlhops.drift.detectors import FIT_SHARE, SuiteConfig, fit_suite, load_suite, split_reference
from mlhops.drift.preprocess import fit_preprocessor
from mlhops.errors import SchemaError
from tests.unit.drift.uci import FEATURES


def test_save_then_load_gives_identical_p_values_on_the_same_sample(tmp_path, fitted_suite, uci_frames):
    _, cur = uci_frames
    before = fitted_suite.score(cur, seed=4)
    fitted_suite.save(tmp_path / "suite")
    # The saved folder holds no reference row: they are passed back in (from Delta in production).
    assert not list((tmp_path / "suite").rglob("x_ref.npy"))
    loaded = load_suite(tmp_path / "suite", fitted_suite.reference)
    after = loaded.score(cur, seed=4)
    assert [o.detector for o in before] == ["mmd", "lsdd", "classifier", "ks"]
    assert [o.p_value for o in before] == [o.p_value for o in after]
    stats_before = {o.detector: o.statistic for o in before}
    stats_after = {o.detector: o.statistic for o in after}
    # alibi saves LSDD's reference un-normalised (x * std + mean in float32) and normalises it again
    # when loading, so its statistic may move in the last float32 bits; the others are bit-identical.
    assert stats_after["lsdd"] == pytest.approx(stats_before["lsdd"], rel=1e-5)
    assert {k: v for k, v in stats_before.items() if k != "lsdd"} == {k: v for k, v in stats_after.items() if k != "lsdd"}
    np.testing.assert_array_equal(fitted_suite.embed(cur), loaded.embed(cur))
    assert loaded.meta["reference_start"] == "2020-01-01"


def test_unshifted_sample_of_the_same_population_is_not_flagged_by_the_kernel_tests(fitted_suite, uci_frames):
    _, cur = uci_frames
    flags = {o.detector: o.drift for o in fitted_suite.score(cur)}
    assert not flags["mmd"] and not flags["lsdd"]


def test_covariate_shift_in_one_lab_is_detected(fitted_suite, uci_frames):
    _, cur = uci_frames
    shifted = cur.copy()
    shifted["num_lab_procedures"] = shifted["num_lab_procedures"] + 0.8 * cur["num_lab_procedures"].std()
    out = {o.detector: o for o in fitted_suite.score(shifted)}
    assert out["mmd"].drift and out["classifier"].drift
    assert out["mmd"].p_value < 0.01


def test_added_missingness_is_detected_by_the_domain_classifier(fitted_suite, uci_frames):
    # The classifier sees the missingness indicators directly; an indicator that is constant in
    # the reference carries no trained weight in the VAE, so the latent tests are not relied on.
    _, cur = uci_frames
    shifted = cur.copy()
    rng = np.random.default_rng(0)
    shifted.loc[rng.random(len(cur)) < 0.4, "num_medications"] = np.nan
    out = {o.detector: o for o in fitted_suite.score(shifted)}
    assert out["classifier"].drift


def test_outcome_reports_sizes_device_and_time(fitted_suite, uci_frames):
    _, cur = uci_frames
    o = fitted_suite.score(cur.head(300))[0]
    assert (o.n_reference, o.n_current) == (600, 300)
    assert o.device == "cpu" and o.seconds > 0


@pytest.fixture(scope="module")
def split_suite(uci_frames):
    """A suite fitted on one baseline sample only, with the product's held-out classifier mode."""
    cfg = SuiteConfig(detectors=("mmd", "classifier"), vae_epochs=2, latent_dim=4, seed=3, device="cpu")
    return fit_suite(uci_frames[0], FEATURES, cfg)


def test_reference_rows_are_disjoint_from_the_rows_the_preprocessing_and_vae_were_fitted_on(
    tmp_path, split_suite, uci_frames
):
    # A window's rows are never rows the preprocessing/VAE were fitted on; the reference's must not
    # be either, or the two samples differ by construction (e.g. only the window has levels outside
    # the fitted vocabulary). Without a separate fit sample, fit_suite splits the baseline sample.
    ref, _ = uci_frames
    fit_part, ref_part = split_reference(ref, FIT_SHARE, seed=3)
    fit_ids, ref_ids = set(fit_part["encounter_id"]), set(ref_part["encounter_id"])
    assert not fit_ids & ref_ids and fit_ids | ref_ids == set(ref["encounter_id"])
    assert len(fit_part) == round(len(ref) * FIT_SHARE)
    assert split_suite.preprocessor.to_dict() == fit_preprocessor(fit_part, FEATURES).to_dict()
    assert split_suite.preprocessor.to_dict() != fit_preprocessor(ref, FEATURES).to_dict()
    split_suite.save(tmp_path / "suite")
    loaded = load_suite(tmp_path / "suite", split_suite.reference)
    assert (loaded.meta["n_fit"], loaded.meta["n_reference"]) == (len(fit_part), len(ref_part))
    # x_ref as saved in alibi's format: the reference part only (preprocessed; embedded for MMD).
    np.testing.assert_array_equal(loaded.detectors["classifier"]._detector.x_ref, split_suite.preprocessor.transform(ref_part))
    np.testing.assert_array_equal(loaded.detectors["mmd"]._detector.x_ref, split_suite.embed(ref_part))
    with pytest.raises(SchemaError, match="reference rows"):
        load_suite(tmp_path / "suite", split_suite.reference.head(0))


def test_held_out_classifier_gives_identical_p_values_after_save_and_load(tmp_path, split_suite, uci_frames):
    # Its train/test split is drawn from numpy's global RNG, which scoring seeds as well as torch's.
    _, cur = uci_frames
    split_suite.save(tmp_path / "suite")
    loaded = load_suite(tmp_path / "suite", split_suite.reference)
    assert split_suite.config.classifier_folds == 0
    before = [o.p_value for o in split_suite.score(cur, seed=5)]
    assert before == [o.p_value for o in loaded.score(cur, seed=5)]
    assert before == [o.p_value for o in split_suite.score(cur, seed=5)]


def test_split_reference_is_seeded_and_rejects_what_cannot_be_split(uci_frames):
    ref, _ = uci_frames
    a, b = split_reference(ref, 0.5, seed=1), split_reference(ref, 0.5, seed=1)
    assert a[0].equals(b[0]) and a[1].equals(b[1])
    assert not split_reference(ref, 0.5, seed=2)[0].equals(a[0])
    with pytest.raises(SchemaError):
        split_reference(ref.head(1), 0.5)
    with pytest.raises(SchemaError):
        split_reference(ref, 1.0)
