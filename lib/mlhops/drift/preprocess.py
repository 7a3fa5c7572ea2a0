"""Tabular preprocessing fitted on the reference sample and saved with the detector.

Numeric features: median imputation, standardisation, a missingness indicator. Categorical
features: one-hot of the reference's most frequent levels plus an "other" column, and a
missingness indicator. Binary features: 0/1 with mode imputation and a missingness indicator.
The fitted state is plain JSON, so a scoring run applies exactly the training transform.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from mlhops.errors import SchemaError

Kind = Literal["numeric", "categorical", "binary"]

# Levels kept per categorical feature; rarer ones share the "other" column.
MAX_CATEGORIES = 20
# Standard deviations below this are treated as constant (no scaling).
MIN_STD = 1e-8
STATE_VERSION = 1


class FeatureLike(Protocol):
    """What the preprocessor needs of a feature spec (``mlhops.features.spec.FeatureSpec``)."""

    name: str
    kind: str


@dataclass(frozen=True)
class ColumnState:
    """Fitted transform of one input feature."""

    name: str
    kind: Kind
    fill: float | str | None = None
    mean: float = 0.0
    std: float = 1.0
    levels: tuple[str, ...] = ()


@dataclass(frozen=True)
class TabularPreprocessor:
    """A fitted reference transform: DataFrame of features -> float32 matrix."""

    columns: tuple[ColumnState, ...]
    output_names: tuple[str, ...] = field(default=())
    # Output columns that are 0/1 (one-hot, indicators, binary); the VAE models them with BCE.
    binary_mask: tuple[bool, ...] = field(default=())

    @property
    def feature_names(self) -> list[str]:
        """Input feature names, in order."""
        return [c.name for c in self.columns]

    @property
    def n_outputs(self) -> int:
        """Width of the transformed matrix."""
        return len(self.output_names)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Apply the fitted transform.

        Args:
            frame: rows to transform; must contain every fitted feature (extra columns ignored).

        Returns:
            A float32 matrix of ``len(frame)`` x ``n_outputs``.

        Raises:
            SchemaError: a fitted feature is missing from ``frame``.
        """
        missing = [c.name for c in self.columns if c.name not in frame.columns]
        if missing:
            raise SchemaError(f"drift sample: missing feature columns {sorted(missing)}")
        blocks: list[np.ndarray] = []
        for col in self.columns:
            blocks.extend(_transform_column(col, frame[col.name]))
        if not blocks:
            return np.zeros((len(frame), 0), dtype=np.float32)
        return np.column_stack(blocks).astype(np.float32, copy=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        return {
            "version": STATE_VERSION,
            "columns": [
                {"name": c.name, "kind": c.kind, "fill": c.fill, "mean": c.mean, "std": c.std, "levels": list(c.levels)}
                for c in self.columns
            ],
            "output_names": list(self.output_names),
            "binary_mask": list(self.binary_mask),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> TabularPreprocessor:
        """Rebuild from :meth:`to_dict` output."""
        if state.get("version") != STATE_VERSION:
            raise SchemaError(f"preprocessor state version {state.get('version')!r} is not {STATE_VERSION}")
        cols = tuple(
            ColumnState(
                name=c["name"], kind=c["kind"], fill=c["fill"], mean=float(c["mean"]), std=float(c["std"]),
                levels=tuple(c["levels"]),
            )
            for c in state["columns"]
        )
        return cls(columns=cols, output_names=tuple(state["output_names"]), binary_mask=tuple(state["binary_mask"]))

    def save(self, path: str | Path) -> None:
        """Write the state as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: str | Path) -> TabularPreprocessor:
        """Read a state written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))


def fit_preprocessor(
    reference: pd.DataFrame, features: list[FeatureLike], *, max_categories: int = MAX_CATEGORIES
) -> TabularPreprocessor:
    """Fit the transform on the reference sample.

    Args:
        reference: the reference sample (one row per visit, one column per feature).
        features: feature names and kinds, in output order.
        max_categories: levels kept per categorical feature.

    Returns:
        The fitted preprocessor.

    Raises:
        SchemaError: a feature is missing from ``reference`` or has an unknown kind.
    """
    missing = [f.name for f in features if f.name not in reference.columns]
    if missing:
        raise SchemaError(f"drift reference sample: missing feature columns {sorted(missing)}")
    states: list[ColumnState] = []
    names: list[str] = []
    mask: list[bool] = []
    for f in features:
        s = reference[f.name]
        if f.kind == "numeric":
            v = pd.to_numeric(s, errors="coerce").astype("float64")
            med = float(v.median()) if v.notna().any() else 0.0
            filled = v.fillna(med)
            std = float(filled.std(ddof=0)) if len(filled) else 1.0
            st = ColumnState(f.name, "numeric", fill=med, mean=float(filled.mean()) if len(filled) else 0.0,
                             std=std if std > MIN_STD and math.isfinite(std) else 1.0)
            names += [f.name, f"{f.name}__missing"]
            mask += [False, True]
        elif f.kind == "binary":
            v = _as_binary(s)
            mode = float(v.mode().iloc[0]) if v.notna().any() else 0.0
            st = ColumnState(f.name, "binary", fill=mode)
            names += [f.name, f"{f.name}__missing"]
            mask += [True, True]
        elif f.kind == "categorical":
            v = s.dropna().astype(str)
            levels = tuple(str(k) for k in v.value_counts(sort=True).index[:max_categories])
            st = ColumnState(f.name, "categorical", levels=tuple(sorted(levels)))
            names += [f"{f.name}={lv}" for lv in st.levels] + [f"{f.name}__other", f"{f.name}__missing"]
            mask += [True] * (len(st.levels) + 2)
        else:
            raise SchemaError(f"feature {f.name}: unknown kind {f.kind!r}")
        states.append(st)
    return TabularPreprocessor(columns=tuple(states), output_names=tuple(names), binary_mask=tuple(mask))


def _as_binary(s: pd.Series) -> pd.Series:
    if s.dtype == bool:
        return s.astype("float64")
    if s.dtype == object:
        lowered = s.astype("string").str.lower()
        mapped = lowered.map({"true": 1.0, "1": 1.0, "yes": 1.0, "false": 0.0, "0": 0.0, "no": 0.0})
        return mapped.astype("float64")
    return pd.to_numeric(s, errors="coerce").astype("float64").clip(0, 1)


def _transform_column(col: ColumnState, s: pd.Series) -> list[np.ndarray]:
    if col.kind == "numeric":
        v = pd.to_numeric(s, errors="coerce").astype("float64")
        miss = v.isna().to_numpy()
        x = (v.fillna(col.fill).to_numpy() - col.mean) / col.std
        return [x, miss.astype(np.float64)]
    if col.kind == "binary":
        v = _as_binary(s)
        miss = v.isna().to_numpy()
        return [v.fillna(col.fill).to_numpy(), miss.astype(np.float64)]
    miss = s.isna().to_numpy()
    vals = s.astype(str).to_numpy()
    blocks = [((vals == lv) & ~miss).astype(np.float64) for lv in col.levels]
    known = np.isin(vals, np.asarray(col.levels, dtype=object)) if col.levels else np.zeros(len(s), dtype=bool)
    blocks.append((~known & ~miss).astype(np.float64))
    blocks.append(miss.astype(np.float64))
    return blocks
