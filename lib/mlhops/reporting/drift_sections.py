"""Report sections of univariate and multivariate drift.

Windows without enough rows to test (``status = insufficient_data``) are drawn and counted as
such, never as "no drift". Distributions come from the stored histograms and top categories of
``mlhops.profile_metrics`` (aggregates only).
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mlhops.io import Catalog, read_table, table_exists
from mlhops.drift.explain import DETECTOR_METHODS, SLICE_STATISTIC
from mlhops.io.tables.monitoring import DRIFT_EXPLANATIONS, DRIFT_METRICS, MULTIVARIATE_DRIFT
from mlhops.reporting import distributions, plots
from mlhops.reporting.html import badge, escape, figure, table
from mlhops.reporting.notes import day, muted, not_run

# The drift measure drawn over time: defined for numeric and categorical features, stored with
# its own alert threshold (stats.drift.psi_threshold).
CHART_MEASURE = "psi"
TOP_FEATURES = 6
DISTRIBUTION_FEATURES = 6
OK, INSUFFICIENT = "ok", "insufficient_data"
# Features shown per flagged window and detector (the table holds every feature's rank).
TOP_DRIVERS = 3
# Flagged window-slice-detector explanations listed in the report (latest first).
EXPLAINED_ROWS = 24


def window_summary(d: pd.DataFrame) -> pd.DataFrame:
    """Per granularity and window: features drifted (k), tested (n), not testable, and which.

    Args:
        d: drift_metrics rows of one slice and reference (every detector and status).

    Returns:
        Columns granularity, window_start, drifted, tested, insufficient, features, in window order.
    """
    if d.empty:
        return pd.DataFrame(columns=["granularity", "window_start", "drifted", "tested", "insufficient", "features"])
    f = d.assign(_ok=d["status"] == OK, _drift=(d["status"] == OK) & d["drift"].astype(bool))
    per = f.groupby(["granularity", "window_start", "feature"], as_index=False).agg(ok=("_ok", "any"),
                                                                                   drift=("_drift", "any"))
    rows = []
    for (gran, w), g in per.groupby(["granularity", "window_start"]):
        rows.append((gran, w, int(g["drift"].sum()), int(g["ok"].sum()), int((~g["ok"]).sum()),
                     ", ".join(sorted(g.loc[g["drift"], "feature"]))))
    return pd.DataFrame(rows, columns=["granularity", "window_start", "drifted", "tested", "insufficient", "features"])


def _read_univariate(spark: SparkSession, cat: Catalog) -> pd.DataFrame:
    return read_table(spark, cat, DRIFT_METRICS).where(
        (F.col("slice") == "all") & (F.col("reference") == "baseline")
    ).select("granularity", "window_start", "feature", "detector", "status", "statistic", "p_value_adjusted",
             "threshold", "drift", "effect_size", "effect_size_name", "n_current").toPandas()


def _heatmap(g: pd.DataFrame, gran: str, windows: list[object]) -> str:
    psi = g[g["detector"] == CHART_MEASURE]
    value = psi[psi["status"] == OK].pivot_table(index="feature", columns="window_start", values="statistic",
                                                 aggfunc="max")
    tested = g[g["status"] == OK].groupby(["feature", "window_start"]).size().unstack()
    flagged = g[(g["status"] == OK) & g["drift"].astype(bool)].groupby(["feature", "window_start"]).size().unstack()
    feats = sorted(g["feature"].unique())
    value = value.reindex(index=feats, columns=windows)
    untested = tested.reindex(index=feats, columns=windows).isna().values.tolist()
    flags = flagged.reindex(index=feats, columns=windows).notna().values.tolist()
    labels = [day(w) for w in windows]
    return figure(
        plots.heatmap(feats, labels, value.values.tolist(), title=f"PSI per feature, {gran} windows vs baseline",
                      cbar="PSI", untested=untested, flagged=flags),
        f"PSI of each feature per {gran} window (whole population); a dot marks a window flagged by a test; "
        "hatched grey: insufficient data, not tested.", f"drift heatmap {gran}")


def _lines(g: pd.DataFrame, gran: str, untested: list[object]) -> str:
    psi = g[(g["detector"] == CHART_MEASURE) & (g["status"] == OK)]
    if psi.empty:
        return ""
    top = psi.groupby("feature")["statistic"].max().sort_values(ascending=False).head(TOP_FEATURES).index
    series = {}
    for f in top:
        s = psi[psi["feature"] == f].sort_values("window_start")
        series[f] = (pd.to_datetime(s["window_start"]).tolist(), s["statistic"].tolist())
    thr = psi["threshold"].dropna()
    return figure(
        plots.lines_over_time(series, title=f"PSI over time: the {len(series)} most shifted features ({gran})",
                              ylabel="PSI", threshold=float(thr.iloc[0]) if len(thr) else None,
                              threshold_label="PSI alert threshold", untested=pd.to_datetime(untested).tolist()),
        f"PSI against the baseline per {gran} window; dashed red: the PSI threshold; grey crosses: windows "
        "with insufficient data for every feature.", f"drift lines {gran}")


def _distributions(spark: SparkSession, cat: Catalog, g: pd.DataFrame, gran: str) -> str:
    ok = g[g["status"] == OK]
    if ok.empty:
        return muted(f"No {gran} window had enough rows to compare distributions.")
    last = ok["window_start"].max()
    w = ok[(ok["window_start"] == last) & (ok["detector"] == CHART_MEASURE)]
    top = list(w.sort_values("statistic", ascending=False)["feature"].head(DISTRIBUTION_FEATURES))
    prof = distributions.profiles(spark, cat, top)
    panels = []
    for f in top:
        ref = distributions.reference_row(prof, f, "baseline", gran, last)
        cur = distributions.window_row(prof, f, gran, last)
        cmp = distributions.compare(ref, cur) if ref and cur else pd.DataFrame()
        if len(cmp):
            psi = float(w.loc[w["feature"] == f, "statistic"].iloc[0])
            panels.append((f"{f} (PSI {psi:.2f})", list(cmp["bin"]), list(cmp["reference_share"]),
                           list(cmp["current_share"])))
    if not panels:
        return muted("No stored histograms or categories for the most shifted features (stats.histogram_bins 0?).")
    return "<h3>Reference vs current distributions</h3>" + figure(
        plots.distribution_grid(panels, reference_label="baseline", current_label=f"{gran} of {day(last)}"),
        f"Share of rows per bin (numeric: the baseline's fixed bins) or category, baseline vs the latest tested "
        f"{gran} window ({day(last)}), for the {len(panels)} features with the largest PSI there.",
        f"distributions {gran}")


def drift(spark: SparkSession, cat: Catalog, max_windows: int) -> str:
    """Univariate drift vs the baseline: k of n features drifted per window, PSI heat map and
    lines with the threshold, reference-vs-current distributions, flagged feature-windows."""
    if not table_exists(spark, cat, DRIFT_METRICS):
        return not_run(DRIFT_METRICS)
    d = _read_univariate(spark, cat)
    if d.empty:
        return muted("No window has been compared with a baseline yet: set <code>stats.baseline</code> (the "
                     "model's training period) and run the stats stage.", raw=True)
    parts = []
    summary = window_summary(d)
    for gran, g in d.groupby("granularity"):
        windows = sorted(g["window_start"].unique())[-max_windows:]
        g = g[g["window_start"].isin(windows)]
        s = summary[(summary["granularity"] == gran) & summary["window_start"].isin(windows)]
        parts.append(f"<h3>{escape(gran).capitalize()} windows</h3>")
        parts.append(figure(plots.drifted_counts([day(w) for w in s["window_start"]], s["drifted"].tolist(),
                                                 s["tested"].tolist(), s["insufficient"].tolist(),
                                                 title=f"Features drifted per {gran} window (k of n tested)"),
                            "Red: features flagged; green: tested without drift; hatched grey: too few rows to test.",
                            f"k of n {gran}"))
        parts.append(_heatmap(g, gran, windows))
        untested = s.loc[s["tested"] == 0, "window_start"].tolist()
        parts.append(_lines(g, gran, untested))
        rows = [(day(r.window_start),
                 badge("insufficient data", "muted") if r.tested == 0 else f"{r.drifted} of {r.tested} features drifted",
                 r.insufficient, r.features or "—") for r in s.iloc[::-1].head(16).itertuples()]
        parts.append(table(["window", "k of n", "features not testable", "drifted features"], rows))
        parts.append(_distributions(spark, cat, g, gran))
    flagged = d[(d["status"] == OK) & d["drift"].astype(bool)].sort_values("window_start", ascending=False).head(40)
    rows = [(r.granularity, day(r.window_start), r.feature, r.detector, r.statistic, r.p_value_adjusted,
             r.effect_size, r.effect_size_name, int(r.n_current)) for r in flagged.itertuples()]
    parts.append("<h3>Flagged feature-windows (latest first)</h3>")
    parts.append(table(["granularity", "window", "feature", "test", "statistic", "adj. p", "effect", "effect measure",
                        "n"], rows) if rows else muted("No feature-window was flagged."))
    return "".join(parts)


def read_explanations(spark: SparkSession, cat: Catalog) -> pd.DataFrame:
    """``mlhops.drift_explanations`` as pandas (empty when the drift stage has explained nothing yet)."""
    if not table_exists(spark, cat, DRIFT_EXPLANATIONS):
        return pd.DataFrame()
    return read_table(spark, cat, DRIFT_EXPLANATIONS).toPandas()


def explanation_summary(ex: pd.DataFrame, n: int = TOP_DRIVERS) -> pd.DataFrame:
    """Per flagged window, slice value and detector: its ``n`` top features and where the shift sits.

    Args:
        ex: ``mlhops.drift_explanations`` rows.
        n: features listed.

    Returns:
        Columns granularity, window_start, slice (``slice=value``), detector, method (the
        detector's ranking method), features (``name (score)``, rank order), carrier (the slice
        value ranked first with the smallest p-value, as ``slice=value``), carrier_share (its
        statistic over the whole population's), latest window first.
    """
    cols = ["granularity", "window_start", "slice", "detector", "method", "features", "carrier", "carrier_share"]
    if ex.empty:
        return pd.DataFrame(columns=cols)
    loc = ex[(ex["method"] == SLICE_STATISTIC) & (ex["rank"] == 1)].sort_values(["p_value", "score"],
                                                                                ascending=[True, False])
    carriers = loc.groupby(["granularity", "window_start", "detector"]).head(1).set_index(
        ["granularity", "window_start", "detector"])
    rows = []
    feats = ex[ex["method"] != SLICE_STATISTIC]
    for (gran, w, sl, val, det), g in feats.groupby(["granularity", "window_start", "slice", "slice_value", "detector"]):
        method = DETECTOR_METHODS.get(str(det), ("",))[0]
        top = g[g["method"] == method].sort_values("rank").head(n)
        named = ", ".join(f"{r.feature} ({r.score:.3g})" for r in top.itertuples())
        c = carriers.loc[(gran, w, det)] if (gran, w, det) in carriers.index else None
        rows.append((gran, w, f"{sl}={val}", det, method, named,
                     f"{c['slice']}={c['slice_value']}" if c is not None else "",
                     float(c["share"]) if c is not None and pd.notna(c["share"]) else None))
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["window_start", "slice", "detector"], ascending=[False, True, True]).reset_index(drop=True)


def window_explanation(ex: pd.DataFrame, window_start: object, detector: str, slice_name: str,
                       slice_value: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One flagged window's explanation for one detector: ``(features, slices)``.

    Args:
        ex: ``mlhops.drift_explanations`` rows.
        window_start: the window (any date-like value of its start day).
        detector: the detector.
        slice_name: the slice of the result explained (``all`` for the whole population).
        slice_value: its value.

    Returns:
        The features of that slice value by method and rank (score, share, p- and q-value) and
        the detector's slice values ranked within each slice (statistic, share of the whole
        population's, p- and q-value); empty frames when the window was not explained.
    """
    if ex.empty:
        return pd.DataFrame(), pd.DataFrame()
    at = ex[(pd.to_datetime(ex["window_start"]).dt.normalize() == pd.Timestamp(window_start).normalize())
            & (ex["detector"] == detector)]
    feats = at[(at["method"] != SLICE_STATISTIC) & (at["slice"] == slice_name) & (at["slice_value"] == slice_value)]
    slices = at[at["method"] == SLICE_STATISTIC]
    return (feats.sort_values(["method", "rank"])[["method", "rank", "feature", "score", "share", "p_value", "q_value",
                                                   "n_reference", "n_current"]].reset_index(drop=True),
            slices.sort_values(["slice", "rank"])[["slice", "slice_value", "rank", "score", "share", "p_value",
                                                   "q_value", "n_current"]].reset_index(drop=True))


def _explained(spark: SparkSession, cat: Catalog) -> str:
    summary = explanation_summary(read_explanations(spark, cat))
    if summary.empty:
        return ""
    rows = [(r.granularity, day(r.window_start), r.slice, r.detector, r.method, r.features or "—", r.carrier or "—",
             r.carrier_share) for r in summary.head(EXPLAINED_ROWS).itertuples()]
    return ("<h3>What drives the flagged windows</h3>"
            + muted("Per flagged window, slice value and detector: the features it relied on most (classifier: "
                    "permutation importance, the held-out AUC lost when the feature is shuffled; MMD, LSDD, KS: the "
                    "MMD statistic lost when the feature is left out), and the slice value that carries the shift "
                    "(ranked first by the detector's own statistic; share = its statistic over the whole "
                    "population's). All rows: mlhops/drift_explanations.")
            + table(["granularity", "window", "slice", "detector", "ranked by", f"top {TOP_DRIVERS} features (score)",
                     "carried by", "share"], rows))


def multivariate(spark: SparkSession, cat: Catalog) -> str:
    """Multivariate drift p-values per detector over windows (threshold drawn; untested windows
    marked), the latest results with their status, and what drives each flagged window."""
    if not table_exists(spark, cat, MULTIVARIATE_DRIFT):
        return not_run(MULTIVARIATE_DRIFT)
    df = read_table(spark, cat, MULTIVARIATE_DRIFT).drop("extra", "features").toPandas()
    if df.empty:
        return muted("The drift stage ran but scored no window yet (no window after the reference period).")
    df = df.sort_values("window_start")
    whole = df[df["slice"] == "all"]
    ok = whole[whole["status"] == OK]
    series = {det: (pd.to_datetime(g["window_start"]).tolist(), g["p_value"].tolist())
              for det, g in ok.groupby("detector")}
    untested = sorted(set(whole["window_start"]) - set(ok["window_start"]))
    parts = []
    if series:
        thr = float(df["threshold"].dropna().iloc[0]) if df["threshold"].notna().any() else None
        parts.append(figure(plots.lines_over_time(series, title="Multivariate drift p-values per window",
                                                  ylabel="p-value", threshold=thr, threshold_label="alpha",
                                                  untested=pd.to_datetime(untested).tolist()),
                            "Each registered detector on the whole population; below the dashed line = drift; "
                            "grey crosses: windows with too few rows to test.", "multivariate drift"))
    else:
        parts.append(muted("No window had enough rows for the multivariate detectors (drift.min_rows)."))
    per = df.assign(_flag=(df["status"] == OK) & df["drift"].astype(bool), _ok=df["status"] == OK) \
        .groupby(["window_start"], as_index=False).agg(flagged=("_flag", "sum"), tested=("_ok", "sum"),
                                                       results=("_ok", "size"))
    rows = [(day(r.window_start), badge("insufficient data", "muted") if r.tested == 0
             else f"{int(r.flagged)} of {int(r.tested)} detector-slices flagged", int(r.results - r.tested))
            for r in per.iloc[::-1].head(16).itertuples()]
    parts.append("<h3>Per window</h3>" + table(["window", "flagged", "not testable"], rows))
    last = df.tail(30).iloc[::-1]
    rows = [(day(r.window_start), r.detector, r.feature, f"{r.slice}={r.slice_value}", r.statistic, r.p_value,
             badge("drift", "fail") if r.status == OK and r.drift else
             (badge("insufficient data", "muted") if r.status != OK else "no"),
             int(r.n_reference), int(r.n_current)) for r in last.itertuples()]
    parts.append("<h3>Latest results</h3>" + table(["window", "detector", "feature set", "slice", "statistic",
                                                    "p-value", "flag", "n ref", "n cur"], rows))
    parts.append(_explained(spark, cat))
    return "".join(parts)
