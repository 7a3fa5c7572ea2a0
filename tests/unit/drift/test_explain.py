"""Explaining a drift flag on real clinical rows (UCI diabetes): the planted feature ranks first in
every method, and an unshifted window names nothing significant."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlhops.drift.explain import (
    CHI2_SCREEN, KS_SCREEN, LOFO_MMD, PERMUTATION_IMPORTANCE, SLICE_STATISTIC, ExplainConfig, carrier,
    classifier_importance, explain_features, feature_blocks, localise, top_features, univariate_screens,
)
from mlhops.drift.preprocess import fit_preprocessor
from tests.unit.drift.uci import CATEGORICAL, FEATURES, NUMERIC

CONFIG = ExplainConfig(max_rows=600, permutation_repeats=3, alpha=0.05, seed=0)
ALL_DETECTORS = ["classifier", "mmd"]


@pytest.fixture(scope="module")
def pre(uci_samples):
    """The preprocessing fitted on the fit sample, as a registered suite's is."""
    return fit_preprocessor(uci_samples[0], FEATURES)


def _ranks(frame: pd.DataFrame, method: str) -> list[str]:
    rows = frame[(frame["method"] == method)].drop_duplicates("feature").sort_values("rank")
    return rows["feature"].tolist()


def test_blocks_cover_every_output_column_once_in_feature_order(pre):
    blocks = feature_blocks(pre)
    assert list(blocks) == [f.name for f in FEATURES]
    assert np.array_equal(np.concatenate(list(blocks.values())), np.arange(pre.n_outputs))
    assert all(pre.output_names[b[0]].startswith(name) for name, b in blocks.items())


def test_a_shifted_lab_count_ranks_first_in_every_method(pre, uci_frames):
    ref, cur = uci_frames
    shifted = cur.assign(num_lab_procedures=cur["num_lab_procedures"] + 0.8 * cur["num_lab_procedures"].std())
    out = explain_features(ref, shifted, pre, ALL_DETECTORS, CONFIG)
    for method in (PERMUTATION_IMPORTANCE, LOFO_MMD, KS_SCREEN):
        assert _ranks(out, method)[0] == "num_lab_procedures", method
    ks = out[(out["method"] == KS_SCREEN) & (out["detector"] == "mmd")].set_index("feature")
    assert ks.loc["num_lab_procedures", "q_value"] < CONFIG.alpha
    # the other numeric features were not touched: none reaches the level after the correction
    assert (ks.drop(index="num_lab_procedures")["q_value"] >= CONFIG.alpha).all()
    # the kernel statistic falls by most of its value without the feature
    lofo = out[out["method"] == LOFO_MMD].set_index("feature")
    assert lofo.loc["num_lab_procedures", "share"] > 0.5
    assert top_features(out, "classifier", 1) == ["num_lab_procedures"]
    assert top_features(out, "mmd", 1) == ["num_lab_procedures"]
    # each detector gets its own methods
    assert set(out.loc[out["detector"] == "classifier", "method"]) == {PERMUTATION_IMPORTANCE}
    assert set(out.loc[out["detector"] == "mmd", "method"]) == {LOFO_MMD, KS_SCREEN, CHI2_SCREEN}


def test_a_changed_admission_mix_ranks_first_in_the_categorical_screens(pre, uci_frames):
    ref, cur = uci_frames
    shifted = cur.copy()
    # a new referral route: 40% of the window's admissions recorded with the reference's rarest common source
    rng = np.random.default_rng(3)
    common = ref["admission_source_id"].value_counts()
    shifted.loc[rng.random(len(cur)) < 0.4, "admission_source_id"] = str(common.index[min(3, len(common) - 1)])
    out = explain_features(ref, shifted, pre, ["mmd"], CONFIG)
    assert _ranks(out, CHI2_SCREEN)[0] == "admission_source_id"
    assert _ranks(out, LOFO_MMD)[0] == "admission_source_id"
    chi2 = out[out["method"] == CHI2_SCREEN].set_index("feature")
    assert chi2.loc["admission_source_id", "q_value"] < CONFIG.alpha


def test_an_unshifted_window_names_no_feature_below_the_level(pre, uci_frames):
    ref, cur = uci_frames
    x_ref, x_cur = pre.transform(ref), pre.transform(cur)
    screens = univariate_screens(x_ref, x_cur, pre)
    assert len(screens) == len(NUMERIC) + len(CATEGORICAL) + 2
    assert (screens["q_value"] >= CONFIG.alpha).all()
    assert set(screens.loc[screens["feature"].isin(NUMERIC), "method"]) == {KS_SCREEN}
    frame, auc = classifier_importance(x_ref, x_cur, pre, CONFIG)
    # the drift classifier cannot tell the two apart, so no feature carries real importance
    assert auc < 0.6
    assert frame["score"].max() < 0.1


def test_added_missingness_is_seen_by_the_numeric_screen(pre, uci_frames):
    ref, cur = uci_frames
    shifted = cur.copy()
    shifted.loc[np.random.default_rng(0).random(len(cur)) < 0.3, "num_medications"] = np.nan
    screens = univariate_screens(pre.transform(ref), pre.transform(shifted), pre)
    first = screens.iloc[0]
    assert (first["feature"], first["method"]) == ("num_medications", KS_SCREEN)
    assert first["q_value"] < CONFIG.alpha


def _results(stats: dict[tuple[str, str, str], tuple[float, float, bool]]) -> pd.DataFrame:
    return pd.DataFrame([{"detector": d, "slice": s, "slice_value": v, "statistic": st, "p_value": p, "drift": f,
                          "status": "ok"} for (d, s, v), (st, p, f) in stats.items()])


def test_localisation_ranks_slice_values_by_the_detectors_statistic_with_their_share():
    results = _results({
        ("mmd", "all", "all"): (0.010, 0.01, True),
        ("mmd", "site", "1"): (0.001, 0.60, False),
        ("mmd", "site", "2"): (0.030, 0.00, True),
        ("mmd", "sex", "female"): (0.012, 0.02, True),
        ("mmd", "sex", "male"): (0.009, 0.04, True),
        # a detector that flagged nothing in the window is not localised
        ("classifier", "all", "all"): (0.02, 0.40, False),
        ("classifier", "site", "2"): (0.05, 0.20, False),
    })
    loc = localise(results)
    assert set(loc["detector"]) == {"mmd"} and set(loc["method"]) == {SLICE_STATISTIC}
    site = loc[loc["slice"] == "site"].set_index("slice_value")
    assert site.loc["2", "rank"] == 1 and site.loc["1", "rank"] == 2
    assert site.loc["2", "share"] == pytest.approx(3.0)
    assert loc[loc["slice"] == "sex"].set_index("slice_value").loc["female", "rank"] == 1
    # the q-values correct across the detector's four slice values
    assert site.loc["1", "q_value"] == pytest.approx(0.60)
    assert carrier(loc, "mmd")["slice_value"] == "2"
    assert carrier(loc, "classifier") is None
