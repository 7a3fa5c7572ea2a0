"""The executor-side pass: day states of every slice equal pandas on the same real rows."""

from __future__ import annotations

import datetime as dt

import datasketches as ds
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pyspark.sql.pandas.types import to_arrow_schema

from mlhops.io.tables.monitoring import STATE_SCHEMA
from mlhops.stats.fine_pass import OTHER_CATEGORY, FineFeature, cap_counts, chunk_states
from tests.conftest import reads_shared_data, shared_path

NUMERIC = ["time_in_hospital", "num_lab_procedures", "num_medications"]
CATEGORICAL = ["race", "admission_type_id"]
KLL_K = 200
# KLL normalized rank error at k=200 (single quantile, 99% confidence): about 1.33%.
RANK_EPS = 0.0133
SCHEMA = to_arrow_schema(STATE_SCHEMA)


@pytest.fixture(scope="module")
@reads_shared_data
def rows() -> pd.DataFrame:
    """6,000 real encounters (UCI Diabetes) spread over 4 days by encounter id, sliced by gender
    and by admission source; ~3% of num_lab_procedures blanked to exercise null handling."""
    path = shared_path("uci_diabetes_130_us_hospitals")
    csv = next(p for p in sorted(path.rglob("diabetic_data*")) if p.suffix in (".csv", ".gz"))
    df = pd.read_csv(csv, na_values="?", low_memory=False).head(6000).copy()
    df["day"] = [dt.date(2024, 3, 1) + dt.timedelta(days=int(i % 4)) for i in df["encounter_id"]]
    df.loc[df["encounter_id"] % 33 == 0, "num_lab_procedures"] = np.nan
    df["gender"] = df["gender"].astype("string")
    df["source"] = df["admission_source_id"].astype("string")
    df["admission_type_id"] = df["admission_type_id"].astype("string")
    return df


def _table(df: pd.DataFrame) -> tuple[pa.Table, list[FineFeature]]:
    cols = {"day": pa.array(df["day"], pa.date32()), "_s0": pa.array(df["gender"]), "_s1": pa.array(df["source"])}
    feats = []
    for i, c in enumerate(NUMERIC):
        cols[f"_x{i}"] = pa.array(df[c].astype(float), pa.float64(), from_pandas=True)
        feats.append(FineFeature(c, "numeric", f"_x{i}", None))
    for j, c in enumerate(CATEGORICAL):
        cols[f"_c{j}"] = pa.array(df[c].astype("string"), pa.string(), from_pandas=True)
        feats.append(FineFeature(c, "categorical", None, f"_c{j}"))
    return pa.table(cols), feats


@pytest.fixture(scope="module")
def states(rows) -> pd.DataFrame:
    table, feats = _table(rows)
    out = chunk_states(table, feats, ["gender", "source"], KLL_K, 12, 3, SCHEMA)
    return out.to_pandas()


def _groups(rows: pd.DataFrame):
    yield "all", "all", rows.groupby("day")
    yield "gender", "gender", rows.groupby(["day", "gender"])
    yield "source", "source", rows.groupby(["day", "source"])


def test_one_state_per_day_slice_value_and_feature(rows, states):
    expected = 0
    for _, _, g in _groups(rows):
        expected += g.ngroups * (len(NUMERIC) + len(CATEGORICAL))
    assert len(states) == expected
    assert not states.duplicated(["window_start", "slice", "slice_value", "feature"]).any()
    assert (pd.to_datetime(states["window_end"]) - pd.to_datetime(states["window_start"])).dt.days.eq(1).all()


def test_counts_moments_min_max_equal_pandas(rows, states):
    for slice_name, col, grouped in _groups(rows):
        for key, part in grouped:
            day, value = (key, "all") if slice_name == "all" else key
            for f in NUMERIC:
                got = states[
                    (states.window_start == day) & (states.slice == slice_name)
                    & (states.slice_value == str(value)) & (states.feature == f)
                ].iloc[0]
                x = part[f].dropna().to_numpy(float)
                assert got.n_rows == len(part) and got.n == len(x) and got.n_null == len(part) - len(x)
                if len(x):
                    assert got["mean"] == pytest.approx(x.mean(), rel=1e-12)
                    assert got["m2"] == pytest.approx(((x - x.mean()) ** 2).sum(), rel=1e-9, abs=1e-9)
                    assert (got["min"], got["max"]) == (x.min(), x.max())


def test_quantiles_within_the_kll_rank_bound_and_distinct_counts_close(rows, states):
    for f in NUMERIC:
        for day, part in rows.groupby("day"):
            got = states[(states.window_start == day) & (states.slice == "all") & (states.feature == f)].iloc[0]
            x = np.sort(part[f].dropna().to_numpy(float))
            kll = ds.kll_doubles_sketch.deserialize(got["kll"])
            assert kll.n == len(x)
            for q in (0.1, 0.5, 0.9):
                v = kll.get_quantile(q)
                lo, hi = np.searchsorted(x, v, "left") / len(x), np.searchsorted(x, v, "right") / len(x)
                assert lo - RANK_EPS <= q <= hi + RANK_EPS
            hll = ds.hll_sketch.deserialize(got["hll"])
            assert hll.get_lower_bound(3) <= len(np.unique(x)) <= hll.get_upper_bound(3)


def test_category_counts_are_exact_and_capped_with_the_rest_pooled(rows, states):
    for day, part in rows.groupby("day"):
        got = states[(states.window_start == day) & (states.slice == "all") & (states.feature == "admission_type_id")]
        counts = dict(got.iloc[0]["counts"])
        exact = part["admission_type_id"].dropna().value_counts()
        top = exact.sort_values(ascending=False, kind="stable")
        kept = sorted(top.index, key=lambda v: (-top[v], v))[:3]
        assert {k: counts[k] for k in kept} == {k: int(top[k]) for k in kept}
        assert counts[OTHER_CATEGORY] == int(exact.sum() - sum(top[k] for k in kept))
        assert sum(counts.values()) == got.iloc[0]["n"]


def test_cap_counts_orders_by_count_then_value_and_sorts_entries():
    values = np.array(["b", "a", "c", "d"], dtype=object)
    counts = np.array([5, 5, 9, 1])
    assert cap_counts(values, counts, 2) == [(OTHER_CATEGORY, 6), ("a", 5), ("c", 9)]
    assert cap_counts(values, counts, 10) == [("a", 5), ("b", 5), ("c", 9), ("d", 1)]


def test_rows_without_a_day_are_refused_not_dropped(rows):
    table, feats = _table(rows.head(10))
    days = table.column("day").to_pylist()
    days[3] = None
    bad = table.set_column(0, "day", pa.array(days, pa.date32()))
    with pytest.raises(ValueError, match="without an event date"):
        chunk_states(bad, feats, ["gender", "source"], KLL_K, 12, 3, SCHEMA)
