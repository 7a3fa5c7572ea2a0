"""Training data from the feature table + labels, a patient-level split, and the estimator."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mlhops.errors import DataQualityError, InsufficientDataError, SchemaError
from mlhops.features.spec import FeatureSpec
from mlhops.models.metrics import classification_metrics
from mlhops.models.reference import ReferenceProfile, build_profile
from mlhops.models.task import TaskSpec

logger = logging.getLogger(__name__)

# Split buckets: a person's bucket in [0, SPLIT_BUCKETS) decides train vs validation.
SPLIT_BUCKETS = 10_000
# Fewer labelled cases than this per class cannot train or validate a model meaningfully.
MIN_CASES_PER_CLASS = 10
# The category a null categorical value becomes before one-hot encoding.
NULL_CATEGORY = "missing"


@dataclass(frozen=True)
class TrainedModel:
    """A fitted model with its operating threshold, validation metrics and reference profile."""

    model: Any
    features: tuple[str, ...]
    threshold: float
    metrics: dict[str, float]
    profile: ReferenceProfile
    n_train: int
    n_validation: int


def model_features(specs: Sequence[FeatureSpec], task: TaskSpec) -> list[FeatureSpec]:
    """Feature specs the task's model uses (all defined features minus the excluded ones)."""
    excluded = set(task.exclude_features)
    return [s for s in specs if s.name not in excluded]


def validation_flag(seed: int, fraction: float) -> Column:
    """True for persons in the validation split (stable per person across runs and tables)."""
    bucket = F.pmod(F.xxhash64(F.col("person_id").cast("long"), F.lit(seed)), F.lit(SPLIT_BUCKETS))
    return bucket < F.lit(int(round(fraction * SPLIT_BUCKETS)))


def training_frame(features: DataFrame, labels: DataFrame, specs: Sequence[FeatureSpec], task: TaskSpec,
                   as_of: Column) -> DataFrame:
    """Labelled feature rows known by ``as_of``, with the patient-level ``is_validation`` flag."""
    names = [s.name for s in specs]
    known = labels.where((F.col("task") == task.name) & (F.col("label_available_date") < as_of))
    rows = features.select(F.col("person_id").cast("long").alias("person_id"),
                           F.col("visit_occurrence_id").cast("long").alias("visit_occurrence_id"), *names)
    joined = rows.join(known.select("visit_occurrence_id", "label"), "visit_occurrence_id")
    return joined.withColumn("is_validation", validation_flag(task.split_seed, task.validation_fraction))


def categories_as_text(x: pd.DataFrame) -> pd.DataFrame:
    """Categorical values as strings with nulls as ``missing`` (module-level so it pickles)."""
    return x.astype(object).where(pd.notna(x), NULL_CATEGORY).astype(str)


def build_estimator(specs: Sequence[FeatureSpec], algorithm: str) -> Any:
    """A scikit-learn pipeline: impute + scale numerics, impute + one-hot categoricals, classify."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    numeric = [s.name for s in specs if s.kind in ("numeric", "binary")]
    categorical = [s.name for s in specs if s.kind == "categorical"]
    to_str = FunctionTransformer(categories_as_text, feature_names_out="one-to-one")
    parts = []
    if numeric:
        parts.append(("num", Pipeline([
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]), numeric))
    if categorical:
        parts.append(("cat", Pipeline([
            ("str", to_str),
            ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5,
                                     sparse_output=False)),
        ]), categorical))
    pre = ColumnTransformer(parts, remainder="drop")
    if algorithm == "gradient_boosting":
        clf: Any = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=0)
    else:
        clf = LogisticRegression(max_iter=2000, C=1.0)
    return Pipeline([("pre", pre), ("clf", clf)])


def _fitted_steps(model: Any) -> list[tuple[str, Any, list[str]]]:
    """``(role, fitted step, columns)`` of the preprocessing of a :func:`build_estimator` pipeline.

    A recalibrated model wraps its parent's pipeline as ``base``.
    """
    while not hasattr(model, "named_steps") and hasattr(model, "base"):
        model = model.base
    if not hasattr(model, "named_steps") or "pre" not in model.named_steps:
        raise SchemaError(f"{type(model).__name__} is not a fitted mlhops estimator pipeline")
    return [(name, step, list(cols)) for name, step, cols in model.named_steps["pre"].transformers_
            if name in ("num", "cat")]


def input_kinds(model: Any, features: Sequence[str]) -> dict[str, str]:
    """Each feature column's kind in a fitted model: ``numeric`` (incl. binary) or ``categorical``.

    Raises:
        SchemaError: a feature the model's preprocessing does not take.
    """
    kinds = {c: "numeric" if name == "num" else "categorical" for name, _, cols in _fitted_steps(model) for c in cols}
    unknown = [f for f in features if f not in kinds]
    if unknown:
        raise SchemaError(f"model preprocessing lacks feature columns {sorted(unknown)}")
    return {f: kinds[f] for f in features}


def synthetic_example(model: Any, features: Sequence[str]) -> pd.DataFrame:
    """One synthetic input row for the registry: no patient's row, only what the model learned.

    Numeric columns take the training median the imputer learned; categorical columns the first
    category the encoder kept as frequent (at least ``min_frequency`` training cases), never the
    stand-in for nulls when another exists.
    """
    values: dict[str, Any] = {}
    for name, step, cols in _fitted_steps(model):
        if name == "num":
            medians = step.named_steps["impute"].statistics_
            values |= {c: float(v) if np.isfinite(v) else 0.0 for c, v in zip(cols, medians)}
            continue
        enc = step.named_steps["onehot"]
        rare_lists = getattr(enc, "infrequent_categories_", None) or [None] * len(cols)
        for c, cats, rare in zip(cols, enc.categories_, rare_lists):
            frequent = [str(v) for v in cats if rare is None or v not in set(rare)]
            known = [v for v in frequent if v != NULL_CATEGORY] or frequent or [NULL_CATEGORY]
            values[c] = known[0]
    return pd.DataFrame([{f: values[f] for f in features}])


def threshold_for_sensitivity(y: np.ndarray, p: np.ndarray, target: float) -> float:
    """Largest threshold whose sensitivity on ``(y, p)`` reaches ``target``."""
    pos = np.sort(p[y == 1])[::-1]
    if pos.size == 0:
        raise InsufficientDataError("validation split has no positive cases: cannot choose a threshold")
    k = max(1, math.ceil(target * pos.size))
    return float(pos[k - 1])


def fit(pdf: pd.DataFrame, specs: Sequence[FeatureSpec], task: TaskSpec, *, ece_bins: int) -> TrainedModel:
    """Fit on the training persons, choose the threshold and profile on the validation persons.

    Raises:
        DataQualityError: too few labelled cases of either class in either split.
    """
    names = [s.name for s in specs]
    train = pdf[~pdf["is_validation"]]
    val = pdf[pdf["is_validation"]]
    for split, part in (("train", train), ("validation", val)):
        counts = part["label"].value_counts()
        if min(int(counts.get(0, 0)), int(counts.get(1, 0))) < MIN_CASES_PER_CLASS:
            raise InsufficientDataError(
                f"task {task.name}: {split} split has fewer than {MIN_CASES_PER_CLASS} cases of a class"
            )
    model = build_estimator(specs, task.algorithm)
    model.fit(train[names], train["label"].to_numpy())
    y_val = val["label"].to_numpy().astype(np.int64)
    p_val = model.predict_proba(val[names])[:, 1]
    threshold = task.threshold
    if threshold is None:
        threshold = threshold_for_sensitivity(y_val, p_val, task.target_sensitivity)
    val_metrics = classification_metrics(y_val, p_val, threshold, ece_bins=ece_bins)
    metrics = {f"validation_{k}": v for k, v in val_metrics.items()}
    logger.info("trained %s on %d cases (validation %d)", task.name, len(train), len(val))
    return TrainedModel(model, tuple(names), threshold, metrics,
                        build_profile(y_val, p_val, threshold, ece_bins=ece_bins), len(train), len(val))
