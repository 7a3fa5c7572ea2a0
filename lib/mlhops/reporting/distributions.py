"""Reference-vs-current distributions of a feature from the stored profile metrics.

Numeric features carry a histogram at the baseline's fixed bin edges (``hist_edges``,
``hist_counts``); categorical features carry their top categories (``top_k``). Both are
aggregates of a window state: no row of the feature table is read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mlhops.io import Catalog, read_table, table_exists
from mlhops.io.tables.monitoring import PROFILE_METRICS

# The granularity of the baseline state in the profile tables (mlhops.stats.baseline.BASELINE).
BASELINE = "baseline"
OTHER = "(other)"
COLUMNS = ["bin", "reference_count", "reference_share", "current_count", "current_share", "share_difference"]
_PROFILE_COLUMNS = ("granularity", "window_start", "window_end", "slice", "slice_value", "feature", "kind", "n",
                    "n_rows", "null_fraction", "mean", "stddev", "hist_edges", "hist_counts", "top_k")


def _edge(v: float) -> str:
    if math.isinf(v):
        return "-inf" if v < 0 else "inf"
    return f"{v:.4g}"


def _items(row: Mapping[str, Any], column: str) -> list[Any]:
    """An array column's items (rows from ``toPandas`` hold numpy arrays; absent: empty)."""
    value = row.get(column)
    return [] if value is None else list(value)


def _numeric_bins(row: Mapping[str, Any]) -> dict[str, float]:
    """Bins ``(-inf, e1], (e1, e2], ..., (ek, inf)`` at the stored inner edges (stats.profile)."""
    edges = _items(row, "hist_edges")
    counts = _items(row, "hist_counts")
    if not counts or len(edges) != len(counts) - 1:
        return {}
    bounds = [-math.inf, *edges, math.inf]
    out = {}
    for lo, hi, c in zip(bounds[:-1], bounds[1:], counts):
        label = f"<= {_edge(hi)}" if math.isinf(lo) else (f"> {_edge(lo)}" if math.isinf(hi)
                                                           else f"({_edge(lo)}, {_edge(hi)}]")
        out[label] = float(c or 0.0)
    return out


def _categorical_bins(row: Mapping[str, Any]) -> dict[str, float]:
    top = {str(t["value"]): float(t["count"]) for t in _items(row, "top_k")}
    rest = float(row.get("n") or 0) - sum(top.values())
    if rest > 0:
        top[OTHER] = rest
    return top


def bins(row: Mapping[str, Any]) -> dict[str, float]:
    """Bin (or category) label -> count of one profile-metrics row (empty when none stored)."""
    return _numeric_bins(row) if row.get("kind") == "numeric" else _categorical_bins(row)


def compare(reference: Mapping[str, Any], current: Mapping[str, Any]) -> pd.DataFrame:
    """Counts and shares per bin of two profile rows of one feature (reference, current).

    Numeric bins keep their order (the baseline's edges are shared by every window);
    categories are ordered by their reference share, then the current one.

    Returns:
        A frame with :data:`COLUMNS`; empty when either row has no stored distribution.
    """
    ref, cur = bins(reference), bins(current)
    if not ref or not cur:
        return pd.DataFrame(columns=COLUMNS)
    labels: Sequence[str] = list(ref) if reference.get("kind") == "numeric" else sorted(
        set(ref) | set(cur), key=lambda k: (k == OTHER, -ref.get(k, 0.0), -cur.get(k, 0.0), k))
    out = pd.DataFrame({"bin": labels,
                        "reference_count": [ref.get(k, 0.0) for k in labels],
                        "current_count": [cur.get(k, 0.0) for k in labels]})
    rt, ct = out["reference_count"].sum(), out["current_count"].sum()
    out["reference_share"] = out["reference_count"] / rt if rt else float("nan")
    out["current_share"] = out["current_count"] / ct if ct else float("nan")
    out["share_difference"] = out["current_share"] - out["reference_share"]
    return out[COLUMNS]


def profiles(
    spark: SparkSession, cat: Catalog, features: Sequence[str] | None = None, *, slice_name: str = "all",
    slice_value: str = "all",
) -> pd.DataFrame:
    """Profile-metric rows (with histograms and top categories) of one slice, every granularity.

    Args:
        spark: the session.
        cat: the warehouse.
        features: the features to read (None: all).
        slice_name: the slice (``all`` for the whole population).
        slice_value: its value.

    Returns:
        One row per granularity, window and feature; empty when stats has not run.
    """
    if not table_exists(spark, cat, PROFILE_METRICS):
        return pd.DataFrame(columns=list(_PROFILE_COLUMNS))
    df = read_table(spark, cat, PROFILE_METRICS).where(
        (F.col("slice") == slice_name) & (F.col("slice_value") == slice_value))
    if features is not None:
        df = df.where(F.col("feature").isin(list(features)))
    return df.select(*_PROFILE_COLUMNS).toPandas()


def reference_row(prof: pd.DataFrame, feature: str, reference: str, granularity: str,
                  window_start: object) -> dict[str, Any] | None:
    """The profile row a window is compared with: the baseline, or the previous window."""
    f = prof[prof["feature"] == feature]
    if reference == "previous":
        g = f[(f["granularity"] == granularity) & (pd.to_datetime(f["window_start"]) < pd.Timestamp(window_start))]
        g = g.sort_values("window_start")
    else:
        g = f[f["granularity"] == BASELINE]
    return None if g.empty else g.iloc[-1].to_dict()


def window_row(prof: pd.DataFrame, feature: str, granularity: str, window_start: object) -> dict[str, Any] | None:
    """The profile row of one feature and window (None when not profiled)."""
    day = pd.Timestamp(window_start).normalize()
    f = prof[(prof["feature"] == feature) & (prof["granularity"] == granularity)
             & (pd.to_datetime(prof["window_start"]).dt.normalize() == day)]
    return None if f.empty else f.iloc[0].to_dict()
