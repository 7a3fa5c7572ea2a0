"""Reference-vs-current bins of the report, from stored profile rows (as Spark or pandas give them)."""

from __future__ import annotations

import numpy as np
import pytest

from mlhops.reporting import distributions as D


def _numeric(edges, counts):
    return {"kind": "numeric", "hist_edges": edges, "hist_counts": counts, "n": None if counts is None else sum(counts)}


@pytest.mark.parametrize("array", [list, np.array], ids=["spark-row-lists", "pandas-row-arrays"])
def test_numeric_rows_compare_bin_by_bin_on_the_shared_edges(array):
    ref = _numeric(array([1.0, 2.0]), array([10, 30, 60]))
    cur = _numeric(array([1.0, 2.0]), array([30, 30, 40]))
    out = D.compare(ref, cur)
    assert list(out["bin"]) == ["<= 1", "(1, 2]", "> 2"]
    assert out["reference_share"].tolist() == pytest.approx([0.1, 0.3, 0.6])
    assert out["current_share"].tolist() == pytest.approx([0.3, 0.3, 0.4])
    assert out["share_difference"].tolist() == pytest.approx([0.2, 0.0, -0.2])


def test_categories_outside_the_top_k_are_counted_as_other():
    ref = {"kind": "categorical", "n": 100, "top_k": np.array([{"value": "F", "count": 55}, {"value": "M", "count": 40}])}
    cur = {"kind": "categorical", "n": 50, "top_k": [{"value": "M", "count": 30}, {"value": "F", "count": 20}]}
    out = D.compare(ref, cur).set_index("bin")
    assert list(out.index) == ["F", "M", D.OTHER]
    assert out.loc[D.OTHER, "reference_count"] == 5 and out.loc[D.OTHER, "current_count"] == 0


def test_a_row_without_a_stored_distribution_compares_to_nothing():
    assert D.compare(_numeric(None, None), _numeric([1.0], [1, 2])).empty
