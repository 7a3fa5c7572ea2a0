"""Model explanations: global permutation importance (at training and per labelled window) and
local explanations of one scored visit.

Global importance is the drop in AUROC when one feature's column is permuted, averaged over
``repeats`` permutations, with a t-interval over them; rank 1 is the most important feature.
A version's training profile (computed on its validation persons) is compared with the profile
of each labelled evaluation window by Spearman rank correlation (stored on the window's rows of
``mlhops.model_importance``; below ``models.explain.min_rank_correlation`` the report flags it).

A local explanation compares the visit with the version's *training reference*: per feature the
training split's mean (numeric) or most frequent category (categorical), aggregates only. A
feature's contribution is the change of the model's output when that feature alone is set back
to its reference value: in logit units for a linear model (exactly coefficient x the change of
the standardised value, and the contributions sum to logit(visit) - logit(reference)), in
probability units otherwise (occlusion). No other patient's values are used or shown.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.errors import MLHOpsError

if TYPE_CHECKING:
    from mlhops.config.stages import ModelSettings
    from mlhops.features.spec import FeatureSpec
    from mlhops.hashing import KeyedHasher
    from mlhops.io import Catalog
    from mlhops.tracking import Tracker

logger = logging.getLogger(__name__)

METRIC = "auroc_drop"
TRAINING = "validation"
IMPORTANCE_ARTIFACT = "importance.json"
REFERENCE_ARTIFACT = "explain_reference.json"
# Fewer common features than this cannot give a meaningful rank correlation.
MIN_RANKED_FEATURES = 3


class ExplainError(MLHOpsError):
    """A local explanation cannot be produced (unknown visit, version without a training reference)."""


@dataclass(frozen=True)
class FeatureImportance:
    """One feature's permutation importance (AUROC drop) with its interval and rank (1 = first)."""

    feature: str
    importance: float
    ci_lower: float
    ci_upper: float
    rank: int


@dataclass(frozen=True)
class Contribution:
    """One feature of an explained visit: its value, the training reference and the contribution."""

    feature: str
    value: Any
    reference: Any
    contribution: float


@dataclass(frozen=True)
class LocalExplanation:
    """The explained visit's score, the unit of the contributions and the contributions, largest first."""

    model_name: str
    model_version: str
    method: str
    unit: str
    score: float
    contributions: tuple[Contribution, ...]


def _auroc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def permutation_importance(model: Any, x: pd.DataFrame, y: np.ndarray, features: Sequence[str], *, repeats: int,
                           seed: int, confidence: float) -> list[FeatureImportance]:
    """AUROC drop per permuted feature, ranked (ties share no rank: the order is stable by name).

    Args:
        model: anything with ``predict_proba`` on a frame of ``features``.
        x: the rows (validation persons, or one window's labelled cases).
        y: their labels (both classes present).
        features: the model's features (columns of ``x``).
        repeats: permutations per feature (>= 2: the interval needs a spread).
        seed: the permutation seed.
        confidence: the interval's confidence level.

    Raises:
        ValueError: ``y`` has a single class or ``repeats`` < 2.
    """
    from scipy import stats

    y = np.asarray(y).astype(np.int64)
    if np.unique(y).size < 2 or repeats < 2:
        raise ValueError("permutation importance needs both classes and at least two repeats")
    frame = x[list(features)].reset_index(drop=True)
    base = _auroc(y, model.predict_proba(frame)[:, 1])
    rng = np.random.default_rng(seed)
    t = float(stats.t.ppf(0.5 + confidence / 2, repeats - 1))
    found: list[tuple[str, float, float, float]] = []
    for feature in features:
        drops = np.empty(repeats)
        original = frame[feature].to_numpy()
        for r in range(repeats):
            shuffled = frame.copy()
            shuffled[feature] = original[rng.permutation(original.size)]
            drops[r] = base - _auroc(y, model.predict_proba(shuffled)[:, 1])
        mean, half = float(drops.mean()), t * float(drops.std(ddof=1)) / math.sqrt(repeats)
        found.append((feature, mean, mean - half, mean + half))
    ordered = sorted(found, key=lambda f: (-f[1], f[0]))
    return [FeatureImportance(f, m, lo, hi, i + 1) for i, (f, m, lo, hi) in enumerate(ordered)]


def sample(pdf: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """At most ``max_rows`` rows, drawn without replacement with ``seed`` (all rows when fewer)."""
    return pdf if len(pdf) <= max_rows else pdf.sample(n=max_rows, random_state=seed)


def importance_rows(name: str, version: str, computed_on: str, found: Sequence[FeatureImportance], *, n: int,
                    repeats: int, labels_as_of: dt.date, rank_correlation: float = math.nan) -> list[dict]:
    """``mlhops.model_importance`` rows (``computed_on``: ``validation`` or a window start)."""
    return [{"model_name": name, "model_version": version, "computed_on": computed_on, "feature": f.feature,
             "importance": f.importance, "ci_lower": f.ci_lower, "ci_upper": f.ci_upper, "rank": f.rank, "n": n,
             "repeats": repeats, "metric": METRIC, "rank_correlation": rank_correlation,
             "labels_as_of": labels_as_of} for f in found]


def rank_correlation(reference: Mapping[str, float], current: Mapping[str, float]) -> float:
    """Spearman correlation of two importance profiles on their common features (nan when fewer
    than three or either is constant)."""
    common = sorted(set(reference) & set(current))
    if len(common) < MIN_RANKED_FEATURES:
        return math.nan
    a = pd.Series([reference[f] for f in common]).rank().to_numpy()
    b = pd.Series([current[f] for f in common]).rank().to_numpy()
    if a.std() == 0 or b.std() == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def reference_values(train: pd.DataFrame, specs: Sequence[FeatureSpec]) -> dict[str, Any]:
    """The training reference of each feature: mean (numeric, binary) or most frequent category.

    Aggregates of the training split only; a feature with no value at all gets None.
    """
    out: dict[str, Any] = {}
    for s in specs:
        col = train[s.name]
        if s.kind == "categorical":
            counts = col.dropna().astype(str).value_counts()
            out[s.name] = str(sorted(counts[counts == counts.max()].index)[0]) if len(counts) else None
        else:
            values = pd.to_numeric(col, errors="coerce")
            out[s.name] = float(values.mean()) if values.notna().any() else None
    return out


def _is_linear(model: Any) -> bool:
    last = model.steps[-1][1] if hasattr(model, "steps") else model
    return hasattr(last, "coef_") and hasattr(model, "decision_function")


def explain_row(model: Any, row: pd.DataFrame, features: Sequence[str],
                reference: Mapping[str, Any]) -> tuple[str, str, float, list[Contribution]]:
    """Contributions of one row's features against the training reference, largest magnitude first.

    Args:
        model: the fitted pipeline (``predict_proba``; ``decision_function`` for a linear model).
        row: one row holding ``features``.
        features: the model's features.
        reference: the training reference values (:func:`reference_values`).

    Returns:
        ``(method, unit, score, contributions)``.
    """
    if len(row) != 1:
        raise ValueError("explain_row needs exactly one row")
    x = row[list(features)].reset_index(drop=True)
    linear = _is_linear(model)
    out = (lambda f: model.decision_function(f)) if linear else (lambda f: model.predict_proba(f)[:, 1])
    # A mean reference of an integer-typed column needs a float column to land in.
    occluded = pd.concat([x] * len(features), ignore_index=True).astype(
        {f: "float64" for f in features if isinstance(reference.get(f), float)})
    for i, feature in enumerate(features):
        # ``at`` keeps the column's dtype (a categorical reference is a string, numeric a float).
        occluded.at[i, feature] = reference.get(feature)
    base = float(np.asarray(out(x))[0])
    moved = np.asarray(out(occluded), dtype=float)
    contributions = [Contribution(f, _plain(x.at[0, f]), reference.get(f), base - float(moved[i]))
                     for i, f in enumerate(features)]
    contributions.sort(key=lambda c: (-abs(c.contribution), c.feature))
    score = float(model.predict_proba(x)[:, 1][0])
    if linear:
        return "coefficient x standardised difference", "logit", score, contributions
    return "occlusion against the training reference", "probability", score, contributions


def _plain(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v


def log_training(tracker: Tracker, name: str, version: str, run_id: str, found: Sequence[FeatureImportance],
                 reference: Mapping[str, Any]) -> None:
    """Log the validation importance (metrics ``importance.<feature>``, ``importance.json``) and
    the training reference (``explain_reference.json``) with the version's training run."""
    client = tracker.client()
    for f in found:
        client.log_metric(run_id, f"importance.{f.feature}", f.importance)
    client.log_dict(run_id, {"metric": METRIC, "features": [asdict(f) for f in found]}, IMPORTANCE_ARTIFACT)
    client.log_dict(run_id, {"reference": dict(reference)}, REFERENCE_ARTIFACT)
    from mlhops.models import registry

    registry.tag_version(tracker, name, version, "mlhops.top_feature", found[0].feature if found else "")


def training_reference(run_id: str) -> dict[str, Any]:
    """The training reference values logged with a version's run.

    Raises:
        ExplainError: the run has no reference (registered before explanations existed).
    """
    import mlflow

    try:
        text = mlflow.artifacts.load_text(f"runs:/{run_id}/{REFERENCE_ARTIFACT}")
    except Exception:  # noqa: BLE001 - MLflow raises several types for a missing artifact
        raise ExplainError(f"run {run_id}: no {REFERENCE_ARTIFACT} (version trained before explanations)") from None
    return dict(json.loads(text)["reference"])


def find_visit(features: DataFrame, hasher: KeyedHasher, visit_hash: str, columns: Sequence[str]) -> pd.DataFrame:
    """The feature row(s) of the visit whose keyed hash is ``visit_hash`` (``columns`` only)."""
    keyed = features.withColumn("_visit_hash", hasher.hash("visit_occurrence_id", F.col("visit_occurrence_id")))
    return keyed.where(F.col("_visit_hash") == F.lit(visit_hash)).select(*columns).limit(2).toPandas()


def explain_visit(spark: SparkSession, catalog: Catalog, hasher: KeyedHasher, tracker: Tracker, *, model_name: str,
                  version: str, visit_hash: str, top_k: int) -> LocalExplanation:
    """Explain one scored visit (by its inference-log ``visit_hash``) for a registered version.

    Raises:
        ExplainError: the visit is not in the feature table, or the version has no training reference.
    """
    from mlhops.io import read_table
    from mlhops.io.tables.monitoring import FEATURES
    from mlhops.models import registry

    loaded = registry.load(tracker, model_name, version)
    reference = training_reference(loaded.run_id)
    rows = find_visit(read_table(spark, catalog, FEATURES), hasher, visit_hash, loaded.features)
    if len(rows) != 1:
        raise ExplainError(f"model {model_name} v{loaded.version}: visit hash not found once in the feature table")
    method, unit, score, contributions = explain_row(loaded.model, rows, loaded.features, reference)
    return LocalExplanation(model_name, loaded.version, method, unit, score, tuple(contributions[:top_k]))


def render_text(e: LocalExplanation) -> str:
    """The explanation as terminal text: one line per feature, largest contribution first."""
    lines = [f"{e.model_name} v{e.model_version}: score {e.score:.4f}; {e.method} ({e.unit} units)",
             f"{'feature':<28} {'value':>14} {'reference':>14} {'contribution':>13}"]
    for c in e.contributions:
        lines.append(f"{c.feature:<28} {_cell(c.value):>14} {_cell(c.reference):>14} {c.contribution:>+13.4f}")
    return "\n".join(lines)


def _cell(v: Any) -> str:
    if v is None:
        return "missing"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def window_rows(spark: SparkSession, catalog: Catalog, hasher: KeyedHasher, *, model_name: str, task: str,
                features: Sequence[str], as_of: dt.date, starts: Sequence[dt.date]) -> pd.DataFrame:
    """Labelled cases of the model's windows ``starts`` with their feature values (driver frame).

    Columns ``model_version``, ``window_start``, ``window_end``, ``label`` and the features; the feature row of
    each logged visit is found by the same keyed hash the inference log carries.
    """
    from mlhops.io import read_table
    from mlhops.io.tables.models import INFERENCE_LOG, LABELS
    from mlhops.io.tables.monitoring import FEATURES
    from mlhops.models.evaluation import join_labels

    if not starts:
        return pd.DataFrame(columns=["model_version", "window_start", "window_end", "label", *features])
    log = read_table(spark, catalog, INFERENCE_LOG).where(
        (F.col("model_name") == model_name) & F.col("window_start").isin(list(starts)))
    labelled = join_labels(log, read_table(spark, catalog, LABELS), task=task, hasher=hasher, as_of=as_of) \
        .where(F.col("label").isNotNull()) \
        .select("model_version", "window_start", "window_end", "visit_hash", "label")
    feats = read_table(spark, catalog, FEATURES).select("visit_occurrence_id", *features).withColumn(
        "visit_hash", hasher.hash("visit_occurrence_id", F.col("visit_occurrence_id"))).drop("visit_occurrence_id")
    # A stable case order: the same labels give the same sample, permutations and importances.
    joined = labelled.join(feats, "visit_hash").orderBy("model_version", "window_start", "visit_hash")
    return joined.toPandas().drop(columns=["visit_hash"])


def window_profiles(frames: pd.DataFrame, models: Mapping[str, Any], training: Mapping[str, Mapping[str, float]],
                    cfg: ModelSettings, *, model_name: str, as_of: dt.date) -> list[dict]:
    """Importance rows of each version's labelled windows, with their rank correlation to training.

    A window needs ``explain.min_window_cases`` labelled cases and ``fairness.min_cell_size`` of
    each class; otherwise it gets no profile.

    Args:
        frames: :func:`window_rows`.
        models: loaded versions by version (``.model``, ``.features``).
        training: each version's training importance by feature (none: the correlation is null).
        cfg: the ``models`` settings (``explain``, ``bootstrap``, ``fairness.min_cell_size``).
        model_name: the registered model.
        as_of: the evaluation's label cut-off (stamped on the rows).
    """
    ex, bs = cfg.explain, cfg.bootstrap
    out: list[dict] = []
    for (version, start), g in frames.groupby(["model_version", "window_start"], sort=True):
        loaded = models.get(str(version))
        counts = g["label"].value_counts()
        if loaded is None or len(g) < ex.min_window_cases or \
                min(int(counts.get(0, 0)), int(counts.get(1, 0))) < cfg.fairness.min_cell_size:
            continue
        rows = sample(g, ex.max_rows, bs.seed)
        found = permutation_importance(loaded.model, rows, rows["label"].to_numpy(), loaded.features,
                                       repeats=ex.repeats, seed=bs.seed, confidence=bs.confidence)
        rho = rank_correlation(training.get(str(version), {}), {f.feature: f.importance for f in found})
        out += importance_rows(model_name, str(version), pd.Timestamp(start).date().isoformat(), found,
                               n=len(rows), repeats=ex.repeats, labels_as_of=as_of, rank_correlation=rho)
    return out


def training_profiles(spark: SparkSession, catalog: Catalog, model_name: str) -> dict[str, dict[str, float]]:
    """Each version's training (validation-split) importance by feature, from ``mlhops.model_importance``."""
    from mlhops.io import read_table, table_exists
    from mlhops.io.tables.models import MODEL_IMPORTANCE

    if not table_exists(spark, catalog, MODEL_IMPORTANCE):
        return {}
    rows = read_table(spark, catalog, MODEL_IMPORTANCE).where(
        (F.col("model_name") == model_name) & (F.col("computed_on") == TRAINING)
    ).select("model_version", "feature", "importance").collect()
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        out.setdefault(str(r["model_version"]), {})[r["feature"]] = float(r["importance"])
    return out
