"""Per-window evaluation of a model version: realized metrics, CBPE, fairness, shift, drift.

The inference log is joined to the labels known by ``as_of`` (delayed labels refresh older
windows on every run). Each window's scores, decisions, labels and subgroup values are small
(one window of one model), so they are collected per model version and the metric math runs
on the driver in numpy; the results are plain rows for the Delta tables.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.config.stages import ModelSettings
from mlhops.hashing import KeyedHasher
from mlhops.io import Catalog, read_table
from mlhops.io.tables.models import INFERENCE_LOG, LABELS
from mlhops.models.bootstrap import MetricEstimate, bootstrap_metrics
from mlhops.models.cbpe import cbpe_estimates
from mlhops.models.concept_drift import DetectorRun, adwin, block_z, cusum, ddm, page_hinkley
from mlhops.models.fairness import disparities, reportable_groups, subgroup_metrics
from mlhops.models.label_shift import bbse
from mlhops.models.reference import ReferenceProfile, score_psi


@dataclass(frozen=True, eq=False)
class WindowCases:
    """The scored cases of one window of one model version (labels: -1 when not known yet)."""

    model_name: str
    model_version: str
    window_start: dt.date
    window_end: dt.date
    scores: np.ndarray
    decisions: np.ndarray
    labels: np.ndarray
    subgroups: dict[str, np.ndarray]
    # The day each known label became final (``datetime64[D]``; NaT when not known yet).
    label_dates: np.ndarray | None = None

    @property
    def labelled(self) -> np.ndarray:
        return self.labels >= 0


@dataclass
class WindowEvaluation:
    """Rows for each output table produced by one window, plus the trigger signals."""

    performance: list[dict] = field(default_factory=list)
    fairness: list[dict] = field(default_factory=list)
    drift: list[dict] = field(default_factory=list)
    realized_auroc: float = math.nan
    realized_ece: float = math.nan
    estimated_auroc: float = math.nan
    psi: float = math.nan
    n_labelled: int = 0


def known_labels(labels: DataFrame, *, task: str, hasher: KeyedHasher, as_of: dt.date,
                 keep: Column | None = None) -> DataFrame:
    """The labels of ``task`` available by ``as_of`` (and matching ``keep``), keyed by the visit's
    keyed hash (computed by the same hasher as at scoring): ``visit_hash, label, label_available_date``."""
    rows = labels.where((F.col("task") == task) & (F.col("label_available_date") <= F.lit(as_of)))
    if keep is not None:
        rows = rows.where(keep)
    return rows.select(hasher.hash("visit_occurrence_id", F.col("visit_occurrence_id")).alias("visit_hash"),
                       "label", "label_available_date")


def join_labels(log: DataFrame, labels: DataFrame, *, task: str, hasher: KeyedHasher, as_of: dt.date) -> DataFrame:
    """Inference rows with ``label`` and ``label_available_date`` (null until that date <= ``as_of``)."""
    return log.join(known_labels(labels, task=task, hasher=hasher, as_of=as_of), "visit_hash", "left")


def load_windows(spark: SparkSession, catalog: Catalog, hasher: KeyedHasher, *, task: str, model_name: str,
                 attributes: Sequence[str], as_of: dt.date) -> list[WindowCases]:
    """Every scored window of a registered model with the labels known by ``as_of``.

    Args:
        spark: the session.
        catalog: the table catalog (reads the inference log and the labels).
        hasher: the keyed hasher the inference log was written with.
        task: the task whose labels to join.
        model_name: the registered model.
        attributes: fairness attributes to collect.
        as_of: the label cut-off.
    """
    log = read_table(spark, catalog, INFERENCE_LOG).where(F.col("model_name") == model_name)
    labels = read_table(spark, catalog, LABELS)
    return collect_windows(join_labels(log, labels, task=task, hasher=hasher, as_of=as_of), attributes)


def subgroup_columns(attributes: Sequence[str]) -> list[Column]:
    """``sg_<attribute>`` columns from an inference log's ``subgroups`` map (``unknown`` when absent)."""
    return [F.coalesce(F.col("subgroups").getItem(a), F.lit("unknown")).alias(f"sg_{a}") for a in attributes]


def collect_windows(joined: DataFrame, attributes: Sequence[str]) -> list[WindowCases]:
    """Collect per (model version, window) the arrays the math needs, in case order."""
    cols = [
        "model_name", "model_version", "window_start", "window_end", "score", "decision",
        F.coalesce(F.col("label"), F.lit(-1)).alias("label"),
        *subgroup_columns(attributes),
    ]
    dates = F.col("label_available_date") if "label_available_date" in joined.columns else F.lit(None).cast("date")
    pdf = joined.select(*cols, dates.alias("label_date"), "event_time", "visit_hash").orderBy(
        "model_name", "model_version", "window_start", "event_time", "visit_hash"
    ).toPandas()
    out = []
    for key, g in pdf.groupby(["model_name", "model_version", "window_start", "window_end"], sort=True):
        out.append(WindowCases(
            str(key[0]), str(key[1]), key[2], key[3],
            g["score"].to_numpy(np.float64), g["decision"].to_numpy(np.int64), g["label"].to_numpy(np.int64),
            {a: g[f"sg_{a}"].astype(str).to_numpy() for a in attributes},
            pd.to_datetime(g["label_date"]).to_numpy("datetime64[D]"),
        ))
    return out


def _perf_row(w: WindowCases, method: str, attribute: str, grp: str, m: MetricEstimate,
              threshold: float, as_of: dt.date) -> dict:
    return {
        "model_name": w.model_name, "model_version": w.model_version, "window_start": w.window_start,
        "window_end": w.window_end, "method": method, "attribute": attribute, "grp": grp, "metric": m.metric,
        "estimate": m.estimate, "ci_lower": m.ci_lower, "ci_upper": m.ci_upper, "n": m.n,
        "n_positive": m.n_positive, "n_scored": int(w.scores.size), "threshold": threshold,
        "labels_as_of": as_of,
    }


def _drift_row(w: WindowCases, detector: str, statistic: float, threshold: float, reference: float,
               lo: float, hi: float, n: int, drift: bool, as_of: dt.date) -> dict:
    return {
        "model_name": w.model_name, "model_version": w.model_version, "window_start": w.window_start,
        "window_end": w.window_end, "detector": detector, "statistic": statistic, "threshold": threshold,
        "reference": reference, "ci_lower": lo, "ci_upper": hi, "n": n, "drift": drift, "labels_as_of": as_of,
    }


def evaluate_window(
    w: WindowCases, profile: ReferenceProfile, cfg: ModelSettings, as_of: dt.date
) -> WindowEvaluation:
    """Realized metrics (overall and per reportable subgroup), disparities, CBPE, BBSE and PSI."""
    ev = WindowEvaluation()
    t = profile.threshold
    bs, fair = cfg.bootstrap, cfg.fairness
    n = int(w.scores.size)
    if n < fair.min_group_size:
        return ev  # too few cases to report anything without small cells
    mask = w.labelled
    y, p = w.labels[mask], w.scores[mask]
    ev.n_labelled = int(mask.sum())
    kw = dict(replicates=bs.replicates, confidence=bs.confidence, seed=bs.seed)
    if reportable_groups(np.zeros(y.size), y, fair.min_group_size, fair.min_cell_size):
        overall = bootstrap_metrics(y, p, t, ece_bins=cfg.ece_bins, **kw)
        ev.performance += [_perf_row(w, "realized", "all", "all", m, t, as_of) for m in overall.values()]
        ev.realized_auroc, ev.realized_ece = overall["auroc"].estimate, overall["ece"].estimate
        groups = {a: v[mask] for a, v in w.subgroups.items()}
        results = subgroup_metrics(y, p, groups, t, min_group_size=fair.min_group_size,
                                   min_cell_size=fair.min_cell_size, ece_bins=cfg.ece_bins, **kw)
        for r in results:
            ev.performance += [
                _perf_row(w, "realized", r.attribute, r.group, m, t, as_of) for m in r.metrics.values()
            ]
        for d in disparities(results, overall, reference=fair.reference, max_difference=fair.max_difference,
                             min_ratio=fair.min_ratio):
            ev.fairness.append({
                "model_name": w.model_name, "model_version": w.model_version, "window_start": w.window_start,
                "window_end": w.window_end, "attribute": d.attribute, "grp": d.group,
                "reference_group": d.reference_group, "metric": d.metric, "group_value": d.group_value,
                "reference_value": d.reference_value, "difference": d.difference, "ratio": d.ratio,
                "ci_lower": d.group_ci_lower, "ci_upper": d.group_ci_upper, "n": d.n, "flagged": d.flagged,
                "labels_as_of": as_of,
            })
    cb = cbpe_estimates(w.scores, profile.calibrator, t, **kw)
    ev.performance += [_perf_row(w, "cbpe", "all", "all", m, t, as_of) for m in cb.values()]
    ev.estimated_auroc = cb["auroc"].estimate
    ls = bbse(profile.confusion_counts(), int(w.decisions.sum()), n, **kw)
    ev.drift.append(_drift_row(w, "bbse_prevalence", ls.estimated_prior, math.nan, ls.reference_prior,
                               ls.ci_lower, ls.ci_upper, n, ls.shift_detected, as_of))
    ev.psi = score_psi(profile, w.scores)
    ev.drift.append(_drift_row(w, "score_psi", ev.psi, cfg.triggers.max_score_psi, 0.0, math.nan, math.nan, n,
                               ev.psi > cfg.triggers.max_score_psi, as_of))
    return ev


def concept_drift(windows: Sequence[WindowCases], profile: ReferenceProfile, cfg: ModelSettings,
                  as_of: dt.date) -> tuple[list[dict], dict[dt.date, int]]:
    """Run CUSUM / Page-Hinkley (residual blocks), DDM (errors) and ADWIN (Brier loss) over the labelled stream.

    ``windows`` are one model version's windows in time order. Returns drift rows and the
    number of alarms per window start.
    """
    cd = cfg.concept_drift
    ys, ps, owner = [], [], []
    for i, w in enumerate(windows):
        m = w.labelled
        ys.append(w.labels[m])
        ps.append(w.scores[m])
        owner.append(np.full(int(m.sum()), i))
    if not windows:
        return [], {}
    y = np.concatenate(ys) if ys else np.empty(0, np.int64)
    p = np.concatenate(ps) if ps else np.empty(0)
    own = np.concatenate(owner) if owner else np.empty(0, np.int64)
    z, ends = block_z(y - p, profile.residual_mean, profile.residual_std, cd.block_size)
    runs: list[tuple[str, DetectorRun, np.ndarray]] = [
        ("cusum_residual", cusum(z, k=cd.cusum_k, h=cd.cusum_h, two_sided=True), ends),
        ("page_hinkley_residual", page_hinkley(z, delta=cd.page_hinkley_delta, lam=cd.page_hinkley_lambda,
                                               two_sided=True), ends),
        ("ddm_error", ddm(((p >= profile.threshold) != y).astype(float), min_instances=cd.ddm_min_instances,
                          warning_level=cd.ddm_warning_level, drift_level=cd.ddm_drift_level),
         np.arange(y.size)),
        ("adwin_brier", adwin((y - p) ** 2, delta=cd.adwin_delta), np.arange(y.size)),
    ]
    rows: list[dict] = []
    alarms: dict[dt.date, int] = {}
    for i, w in enumerate(windows):
        n_w = int((own == i).sum())
        total = 0
        for name, run, positions in runs:
            in_w = own[positions] == i if positions.size else np.zeros(0, bool)
            stat = float(run.statistic[in_w].max()) if in_w.any() else math.nan
            count = sum(1 for a in run.alarms if own[positions[a]] == i)
            total += count
            rows.append(
                _drift_row(w, name, stat, run.threshold, 0.0, math.nan, math.nan, n_w, count > 0, as_of)
            )
        alarms[w.window_start] = total
    return rows, alarms
