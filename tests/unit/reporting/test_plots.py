"""What the performance chart shades of the model's training period."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from mlhops.reporting.plots import _shown_reference


def test_a_training_period_reaching_back_decades_is_drawn_as_long_as_the_windows_span():
    ref = (dt.date(1920, 1, 1), dt.date(2024, 12, 1))
    windows = [dt.date(2025, 1, 1), dt.date(2026, 1, 1), dt.date(2027, 1, 1)]
    start, end = _shown_reference(ref, windows)
    assert end == pd.Timestamp(ref[1])
    assert start == pd.Timestamp(ref[1]) - (pd.Timestamp(windows[-1]) - pd.Timestamp(windows[0]))


def test_a_short_training_period_is_drawn_whole():
    ref = (dt.date(2024, 1, 1), dt.date(2024, 3, 1))
    assert _shown_reference(ref, [dt.date(2024, 3, 4), dt.date(2024, 5, 6)]) == tuple(map(pd.Timestamp, ref))
    assert _shown_reference(ref, []) == ref
