"""Reference preprocessing: fitted once, saved as JSON, applied unchanged to later windows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlhops.drift.preprocess import TabularPreprocessor, fit_preprocessor
from tests.unit.drift.uci import FEATURES


def test_state_round_trips_through_json_and_transform_is_identical(tmp_path, uci_frames):
    ref, cur = uci_frames
    pre = fit_preprocessor(ref, FEATURES)
    pre.save(tmp_path / "pre.json")
    loaded = TabularPreprocessor.load(tmp_path / "pre.json")
    np.testing.assert_array_equal(pre.transform(cur), loaded.transform(cur))
    assert pre.transform(cur).dtype == np.float32
    assert len(pre.output_names) == pre.transform(cur).shape[1] == len(pre.binary_mask)


def test_numeric_columns_are_standardised_on_the_reference_and_missingness_is_a_column(uci_frames):
    ref, _ = uci_frames
    pre = fit_preprocessor(ref, FEATURES)
    x = pre.transform(ref)
    i = pre.output_names.index("num_lab_procedures")
    assert abs(float(x[:, i].mean())) < 1e-5 and abs(float(x[:, i].std()) - 1.0) < 1e-3
    shifted = ref.copy()
    shifted.loc[: len(ref) // 2, "num_lab_procedures"] = np.nan
    j = pre.output_names.index("num_lab_procedures__missing")
    assert pre.transform(shifted)[:, j].sum() == len(ref) // 2 + 1
    assert pre.transform(ref)[:, j].sum() == 0


def test_unseen_category_goes_to_other_and_missing_to_indicator(uci_frames):
    ref, _ = uci_frames
    pre = fit_preprocessor(ref, FEATURES)
    rows = ref.head(3).copy()
    rows["race"] = ["NeverSeenLevel", None, rows["race"].iloc[2]]
    x = pre.transform(rows)
    names = pre.output_names
    race_cols = [k for k, n in enumerate(names) if n.startswith("race=")]
    assert x[0, names.index("race__other")] == 1 and x[0, race_cols].sum() == 0
    assert x[1, names.index("race__missing")] == 1 and x[1, names.index("race__other")] == 0
    assert pd.notna(rows["race"].iloc[2]) and x[2, race_cols].sum() == 1
