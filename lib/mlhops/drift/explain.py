"""Which features and which slices carry a flagged multivariate drift (pure numpy / pandas).

A flagged window is explained on its own sample and a reference sample, both put through the
registered suite's preprocessing (:class:`~mlhops.drift.preprocess.TabularPreprocessor`), so
every method sees exactly the inputs the detectors see, grouped back into configured features
(a categorical feature's one-hot columns, a numeric feature's value and missingness indicator):

- ``permutation_importance`` (explains ``classifier``): a small gradient-boosted drift
  classifier (reference = 0, window = 1) is trained on a seeded 75% of the pooled rows; a
  feature's score is the mean fall of the held-out AUC when its columns are shuffled together.
  alibi's own domain classifier is retrained inside every ``predict`` and not kept, so an own
  classifier on the same preprocessed inputs stands in for it.
- ``lofo_mmd`` (explains ``mmd``, ``lsdd``, ``ks``): the unbiased MMD^2 of the two samples with
  a Gaussian kernel (median-heuristic bandwidth, as the detectors infer theirs), minus the MMD^2
  with the feature's columns left out; ``share`` is that drop over the full statistic.
- ``ks`` / ``chi2`` screens (with the kernel detectors): two-sample KS per numeric feature (a
  missing value counts as a value below every other, so a missingness change is seen too) and
  chi-squared of homogeneity per categorical or binary feature (missing as its own category),
  ranked by effect size (KS D, Cramer's V: both in [0, 1]) with Benjamini-Hochberg q-values
  across the features.
- ``slice_statistic`` (localisation): the per-slice-value results the detectors already
  computed for the window, ranked by statistic within each slice, with the ratio of the slice
  value's statistic to the whole population's.

Every output row names a feature, a slice value or a detector, and carries numbers computed
from samples: never a sample value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from mlhops.drift.preprocess import TabularPreprocessor
from mlhops.drift.univariate import adjust_pvalues, chi2_from_counts

PERMUTATION_IMPORTANCE = "permutation_importance"
LOFO_MMD = "lofo_mmd"
KS_SCREEN = "ks"
CHI2_SCREEN = "chi2"
SLICE_STATISTIC = "slice_statistic"
# The methods that explain each detector, the first being the one the alert message names.
DETECTOR_METHODS: dict[str, tuple[str, ...]] = {
    "classifier": (PERMUTATION_IMPORTANCE,),
    "mmd": (LOFO_MMD, KS_SCREEN, CHI2_SCREEN),
    "lsdd": (LOFO_MMD, KS_SCREEN, CHI2_SCREEN),
    "ks": (LOFO_MMD, KS_SCREEN, CHI2_SCREEN),
}
COLUMNS = ["detector", "feature", "method", "score", "share", "rank", "p_value", "q_value"]
# Share of the pooled rows the drift classifier trains on (as the classifier detector's split).
TRAIN_SHARE = 0.75
# Gradient-boosting size: small, the samples are capped at max_rows per side. (sklearn's
# single-threaded GradientBoostingClassifier: the histogram variant's OpenMP threads fight the
# Spark executors for the driver's cores, tens of times slower on a busy machine.)
CLASSIFIER_TREES = 100
CLASSIFIER_DEPTH = 3
# A categorical value's code for "missing" in the screens (never leaves this module).
_MISSING = -1


@dataclass(frozen=True)
class ExplainConfig:
    """How to explain one window (mirrors ``drift.explain`` and ``drift.alpha``/``seed``)."""

    max_rows: int = 1000
    permutation_repeats: int = 5
    alpha: float = 0.05
    seed: int = 0


def feature_blocks(pre: TabularPreprocessor) -> dict[str, np.ndarray]:
    """Output-column indices of each input feature, in the preprocessor's order.

    Numeric and binary features own two columns (value, missingness indicator); a categorical
    feature owns one column per kept level plus ``other`` and ``missing``.
    """
    out: dict[str, np.ndarray] = {}
    start = 0
    for col in pre.columns:
        width = len(col.levels) + 2 if col.kind == "categorical" else 2
        out[col.name] = np.arange(start, start + width)
        start += width
    if start != pre.n_outputs:
        raise ValueError(f"preprocessor blocks cover {start} of {pre.n_outputs} output columns")
    return out


def _ranked(frame: pd.DataFrame, by: str = "score") -> pd.DataFrame:
    """Rank 1 = largest ``by`` (ties: feature name order), in rank order."""
    frame = frame.sort_values([by, "feature"], ascending=[False, True], na_position="last").reset_index(drop=True)
    frame["rank"] = np.arange(1, len(frame) + 1)
    return frame


def _subsample(x: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    if len(x) <= cap:
        return x
    return x[np.sort(rng.choice(len(x), cap, replace=False))]


# --- univariate screens ---------------------------------------------------------------------------

def _screen_values(x: np.ndarray, block: np.ndarray, kind: str) -> np.ndarray:
    """One comparable value per row of a feature: numeric -> its (standardised) value, missing
    as -inf; binary / categorical -> a category code, missing as its own code."""
    if kind == "numeric":
        values = x[:, block[0]].astype(np.float64)
        return np.where(x[:, block[1]] > 0.5, -np.inf, values)
    if kind == "binary":
        return np.where(x[:, block[1]] > 0.5, _MISSING, np.rint(x[:, block[0]])).astype(np.int64)
    onehot = x[:, block]
    # columns: levels..., other, missing -> the missing column maps to _MISSING
    code = onehot.argmax(axis=1)
    return np.where(code == len(block) - 1, _MISSING, code).astype(np.int64)


def univariate_screens(x_ref: np.ndarray, x_cur: np.ndarray, pre: TabularPreprocessor) -> pd.DataFrame:
    """KS (numeric) or chi-squared (categorical, binary) per feature, BH-corrected, by effect size.

    Args:
        x_ref: reference rows, preprocessed.
        x_cur: window rows, preprocessed.
        pre: the preprocessor both went through.

    Returns:
        One row per feature: ``feature``, ``method`` (``ks``/``chi2``), ``score`` (KS D or
        Cramer's V), ``p_value``, ``q_value`` (Benjamini-Hochberg across the features), ``rank``.
    """
    rows = []
    for col, (name, block) in zip(pre.columns, feature_blocks(pre).items()):
        a, b = _screen_values(x_ref, block, col.kind), _screen_values(x_cur, block, col.kind)
        if col.kind == "numeric":
            if len(a) == 0 or len(b) == 0:
                rows.append((name, KS_SCREEN, 0.0, 1.0))
                continue
            res = sps.ks_2samp(a, b, method="asymp")
            rows.append((name, KS_SCREEN, float(res.statistic), float(res.pvalue)))
        else:
            ref_counts = {str(k): float(v) for k, v in zip(*np.unique(a, return_counts=True))}
            cur_counts = {str(k): float(v) for k, v in zip(*np.unique(b, return_counts=True))}
            out = chi2_from_counts(ref_counts, cur_counts)
            rows.append((name, CHI2_SCREEN, float(out.effect_size or 0.0), float(out.p_value if out.p_value is not None
                                                                                else 1.0)))
    frame = pd.DataFrame(rows, columns=["feature", "method", "score", "p_value"])
    frame["q_value"] = adjust_pvalues(frame["p_value"].tolist(), "bh") if len(frame) else []
    frame["share"] = np.nan
    return _ranked(frame)


# --- leave-one-feature-out MMD --------------------------------------------------------------------

def _sq_distances(z: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances of the rows of ``z`` (float64, clipped at 0)."""
    sq = np.einsum("ij,ij->i", z, z)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (z @ z.T)
    return np.clip(d2, 0.0, None)


def _mmd2(d2: np.ndarray, n_ref: int) -> float:
    """Unbiased MMD^2 of rows ``[:n_ref]`` vs ``[n_ref:]`` with a Gaussian kernel on ``d2``.

    The bandwidth is alibi's median heuristic on the reference-vs-window distances
    (``sigma^2 = median / 2``), so each feature subset gets the bandwidth a detector fitted on it
    would infer.
    """
    cross = d2[:n_ref, n_ref:]
    sigma2 = 0.5 * float(np.median(cross))
    if sigma2 <= 0.0:
        return 0.0
    k = np.exp(-d2 / (2.0 * sigma2))
    n, m = n_ref, d2.shape[0] - n_ref
    k_xx = (k[:n, :n].sum() - n) / (n * (n - 1))
    k_yy = (k[n:, n:].sum() - m) / (m * (m - 1))
    k_xy = k[:n, n:].sum() / (n * m)
    return float(k_xx + k_yy - 2.0 * k_xy)


def lofo_mmd(x_ref: np.ndarray, x_cur: np.ndarray, pre: TabularPreprocessor, config: ExplainConfig) -> pd.DataFrame:
    """Drop in the MMD^2 statistic when each feature's columns are left out.

    Args:
        x_ref: reference rows, preprocessed (at most ``config.max_rows`` are used, seeded).
        x_cur: window rows, preprocessed (idem).
        pre: the preprocessor both went through.
        config: row cap and seed.

    Returns:
        One row per feature: ``score`` = MMD^2(all features) - MMD^2(without it), ``share`` =
        score / MMD^2(all features) (NaN when that is not positive), ``rank`` by score.
    """
    rng = np.random.default_rng(config.seed)
    a = _subsample(x_ref, config.max_rows, rng).astype(np.float64)
    b = _subsample(x_cur, config.max_rows, rng).astype(np.float64)
    z = np.vstack([a, b])
    d2_all = _sq_distances(z)
    full = _mmd2(d2_all, len(a))
    rows = []
    for name, block in feature_blocks(pre).items():
        drop = full - _mmd2(d2_all - _sq_distances(z[:, block]), len(a))
        rows.append((name, LOFO_MMD, drop, drop / full if full > 0 else np.nan))
    frame = pd.DataFrame(rows, columns=["feature", "method", "score", "share"])
    frame["p_value"] = np.nan
    frame["q_value"] = np.nan
    return _ranked(frame)


# --- drift classifier permutation importance ------------------------------------------------------

def classifier_importance(
    x_ref: np.ndarray, x_cur: np.ndarray, pre: TabularPreprocessor, config: ExplainConfig
) -> tuple[pd.DataFrame, float]:
    """Permutation importance of each feature for a drift classifier on a held-out split.

    Args:
        x_ref: reference rows, preprocessed (at most ``config.max_rows`` are used, seeded).
        x_cur: window rows, preprocessed (idem).
        pre: the preprocessor both went through.
        config: row cap, shuffles per feature and seed.

    Returns:
        ``(frame, held-out AUC)``: one row per feature, ``score`` = mean fall of the held-out
        AUC over ``config.permutation_repeats`` joint shuffles of its columns, ``share`` = score
        over the AUC's excess above 0.5 (NaN when the classifier does no better than chance).
    """
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(config.seed)
    a = _subsample(x_ref, config.max_rows, rng)
    b = _subsample(x_cur, config.max_rows, rng)
    x = np.vstack([a, b]).astype(np.float64)
    y = np.r_[np.zeros(len(a), dtype=np.int64), np.ones(len(b), dtype=np.int64)]
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, train_size=TRAIN_SHARE, stratify=y, random_state=config.seed)
    model = GradientBoostingClassifier(n_estimators=CLASSIFIER_TREES, max_depth=CLASSIFIER_DEPTH,
                                       random_state=config.seed)
    model.fit(x_tr, y_tr)
    base = float(roc_auc_score(y_te, model.predict_proba(x_te)[:, 1]))
    rows = []
    for name, block in feature_blocks(pre).items():
        falls = []
        for _ in range(config.permutation_repeats):
            shuffled = x_te.copy()
            shuffled[:, block] = x_te[rng.permutation(len(x_te))][:, block]
            falls.append(base - float(roc_auc_score(y_te, model.predict_proba(shuffled)[:, 1])))
        score = float(np.mean(falls))
        rows.append((name, PERMUTATION_IMPORTANCE, score, score / (base - 0.5) if base > 0.5 else np.nan))
    frame = pd.DataFrame(rows, columns=["feature", "method", "score", "share"])
    frame["p_value"] = np.nan
    frame["q_value"] = np.nan
    return _ranked(frame), base


# --- one window -----------------------------------------------------------------------------------

def explain_features(
    reference: pd.DataFrame, current: pd.DataFrame, pre: TabularPreprocessor, detectors: Sequence[str],
    config: ExplainConfig,
) -> pd.DataFrame:
    """Per-feature contributions for the flagged ``detectors`` of one window and slice value.

    Args:
        reference: reference rows of the slice value (feature columns as configured).
        current: the window's sampled rows of the slice value.
        pre: the registered suite's preprocessing.
        detectors: the detectors that flagged (``classifier``, ``mmd``, ``lsdd``, ``ks``).
        config: how to explain.

    Returns:
        :data:`COLUMNS` rows: for each flagged detector, its methods' rows (``DETECTOR_METHODS``).
    """
    x_ref, x_cur = pre.transform(reference), pre.transform(current)
    computed: dict[str, pd.DataFrame] = {}
    parts = []
    for det in detectors:
        for method in DETECTOR_METHODS.get(det, ()):
            if method not in computed:
                computed.update(_compute(method, x_ref, x_cur, pre, config))
            frame = computed[method]
            if len(frame):
                parts.append(frame.assign(detector=det))
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def _compute(method: str, x_ref: np.ndarray, x_cur: np.ndarray, pre: TabularPreprocessor,
             config: ExplainConfig) -> dict[str, pd.DataFrame]:
    if method == PERMUTATION_IMPORTANCE:
        return {method: classifier_importance(x_ref, x_cur, pre, config)[0]}
    if method == LOFO_MMD:
        return {method: lofo_mmd(x_ref, x_cur, pre, config)}
    screens = univariate_screens(x_ref, x_cur, pre)
    # one correction across every feature of the window, then split by test (ranks kept within each)
    return {m: _ranked(screens[screens["method"] == m].drop(columns="rank")) for m in (KS_SCREEN, CHI2_SCREEN)}


def localise(results: pd.DataFrame, all_slice: str = "all") -> pd.DataFrame:
    """Rank the slice values of one window by each flagged detector's own statistic.

    Args:
        results: the window's results, one row per ``detector``, ``slice``, ``slice_value``
            with ``statistic``, ``p_value``, ``drift`` and ``status`` (``ok`` rows are used).
        all_slice: the name of the whole-population slice.

    Returns:
        For every detector that flagged the window in any slice value: one row per tested slice
        value (``slice``, ``slice_value``, ``detector``, ``method`` = ``slice_statistic``,
        ``score`` = its statistic, ``share`` = statistic / the whole population's statistic,
        ``p_value``, ``q_value`` = BH across the detector's slice values, ``rank`` within its
        slice, 1 = largest statistic).
    """
    cols = ["slice", "slice_value", "detector", "method", "score", "share", "rank", "p_value", "q_value"]
    ok = results[(results["status"] == "ok") & results["statistic"].notna()]
    parts = []
    for det, g in ok.groupby("detector", sort=True):
        if not g["drift"].astype(bool).any():
            continue
        whole = g[g["slice"] == all_slice]["statistic"]
        overall = float(whole.iloc[0]) if len(whole) else math.nan
        per = g[g["slice"] != all_slice]
        if per.empty:
            continue
        frame = pd.DataFrame({
            "slice": per["slice"].astype(str).to_numpy(), "slice_value": per["slice_value"].astype(str).to_numpy(),
            "detector": det, "method": SLICE_STATISTIC, "score": per["statistic"].astype(float).to_numpy(),
            "p_value": per["p_value"].astype(float).to_numpy(),
        })
        frame["share"] = frame["score"] / overall if overall > 0 else np.nan
        frame["q_value"] = adjust_pvalues(frame["p_value"].fillna(1.0).tolist(), "bh")
        frame = frame.sort_values(["slice", "score", "slice_value"], ascending=[True, False, True])
        frame["rank"] = frame.groupby("slice").cumcount() + 1
        parts.append(frame[cols])
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True)


def top_features(frame: pd.DataFrame, detector: str, n: int) -> list[str]:
    """The ``n`` best-ranked features of ``detector``'s primary method (``DETECTOR_METHODS``)."""
    methods = DETECTOR_METHODS.get(detector, ())
    if not methods or frame.empty:
        return []
    rows = frame[(frame["detector"] == detector) & (frame["method"] == methods[0])].sort_values("rank")
    return rows["feature"].head(n).tolist()


def carrier(localised: pd.DataFrame, detector: str) -> Mapping[str, object] | None:
    """The slice value that carries ``detector``'s shift: rank 1 of its slice, smallest p-value."""
    rows = localised[(localised["detector"] == detector) & (localised["rank"] == 1)]
    if rows.empty:
        return None
    return rows.sort_values(["p_value", "score"], ascending=[True, False]).iloc[0].to_dict()
