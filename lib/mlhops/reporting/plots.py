"""Matplotlib (Agg) figures rendered to base64 PNG for inline embedding."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DPI = 96


def _png(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def lines_over_time(
    series: Mapping[str, tuple[Sequence[object], Sequence[float]]],
    *,
    title: str,
    ylabel: str,
    threshold: float | None = None,
    bands: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    untested: Sequence[object] = (),
    threshold_label: str = "threshold",
) -> str:
    """One line per series over windows; optional threshold line and CI bands.

    ``untested`` windows (insufficient data) are marked by grey crosses on the axis, so a gap
    in a line never reads as "no drift".
    """
    fig, ax = plt.subplots(figsize=(8.5, 3.2))
    for name, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), marker="o", markersize=3, linewidth=1.3, label=str(name))
        if bands and name in bands:
            lo, hi = bands[name]
            ax.fill_between(list(xs), list(lo), list(hi), alpha=0.18)
    if threshold is not None:
        ax.axhline(threshold, color="#b42318", linestyle="--", linewidth=1, label=threshold_label)
    if untested:
        y = ax.get_ylim()[0]
        ax.plot(list(untested), [y] * len(untested), linestyle="none", marker="x", color="#8c959f", markersize=6,
                label="insufficient data (not tested)", clip_on=False)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    if len(series) <= 12:
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.autofmt_xdate()
    return _png(fig)


def heatmap(
    rows: Sequence[str], cols: Sequence[str], values: Sequence[Sequence[float]], *, title: str, cbar: str,
    untested: Sequence[Sequence[bool]] | None = None, flagged: Sequence[Sequence[bool]] | None = None,
) -> str:
    """Feature x window heat map (e.g. drift effect sizes).

    ``untested`` cells (insufficient data) are drawn hatched grey, never as "no drift";
    ``flagged`` cells (drift) carry a dot.
    """
    import numpy as np

    data = np.array(values, dtype=float)
    fig, ax = plt.subplots(figsize=(8.5, max(2.0, 0.28 * len(rows) + 1.2)))
    if untested is not None:
        mask = np.array(untested, dtype=bool)
        ax.imshow(np.where(mask, 1.0, np.nan), aspect="auto", cmap="Greys", vmin=0, vmax=5)
        for r, c in zip(*np.nonzero(mask)):
            ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, hatch="///", edgecolor="#8c959f",
                                       linewidth=0))
    im = ax.imshow(np.ma.masked_invalid(data), aspect="auto", cmap="OrRd")
    if flagged is not None:
        fr, fc = np.nonzero(np.array(flagged, dtype=bool))
        ax.scatter(fc, fr, s=8, c="#1b1f24", marker="o", label="drift flagged")
    ax.set_yticks(range(len(rows)), [str(r) for r in rows], fontsize=7)
    step = max(1, len(cols) // 12)
    ax.set_xticks(range(0, len(cols), step), [str(c) for c in cols][::step], fontsize=7, rotation=45, ha="right")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label=cbar)
    return _png(fig)


def reliability(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[int]]], *, title: str
) -> str:
    """Calibration (reliability) diagram: per curve, mean predicted risk vs observed rate per bin
    (marker area ~ cases in the bin), and the diagonal of perfect calibration."""
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=1, label="perfect calibration")
    for name, (pred, obs, n) in curves.items():
        sizes = [max(8.0, 400.0 * k / max(1, max(n))) for k in n]
        line = ax.plot(list(pred), list(obs), linewidth=1.2, label=str(name))[0]
        ax.scatter(list(pred), list(obs), s=sizes, color=line.get_color(), alpha=0.6)
    hi = max([1e-3, *[max(list(p) + list(o)) for p, o, _ in curves.values() if len(p)]])
    lim = min(1.0, hi * 1.1)
    ax.set_xlim(0, lim)
    ax.set_ylim(0, lim)
    ax.set_xlabel("mean predicted risk", fontsize=9)
    ax.set_ylabel("observed rate", fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    return _png(fig)


def model_performance(
    realized: Mapping[str, tuple[Sequence[object], Sequence[float], Sequence[float], Sequence[float]]],
    estimated: Mapping[str, tuple[Sequence[object], Sequence[float], Sequence[float], Sequence[float]]],
    *,
    title: str,
    reference: tuple[object, object] | None = None,
    alerts: Sequence[object] = (),
    bounds: Mapping[str, float] | None = None,
) -> str:
    """Realized metrics (solid, with CI bands) and CBPE estimates (dashed) per window.

    Args:
        realized: metric -> (windows, estimates, CI lower, CI upper).
        estimated: metric -> the same for the CBPE estimates.
        title: the chart title.
        reference: (start, end) of the model's reference (training) period, shaded.
        alerts: windows of performance/calibration alerts, marked by red triangles.
        bounds: metric -> alert bound, drawn as a dotted line.
    """
    fig, ax = plt.subplots(figsize=(8.5, 3.4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, metric in enumerate(sorted(set(realized) | set(estimated))):
        c = colors[i % len(colors)]
        if metric in realized:
            xs, ys, lo, hi = realized[metric]
            ax.plot(list(xs), list(ys), marker="o", markersize=3, linewidth=1.4, color=c, label=f"{metric} realized")
            ax.fill_between(list(xs), list(lo), list(hi), color=c, alpha=0.15)
        if metric in estimated:
            xs, ys, _, _ = estimated[metric]
            ax.plot(list(xs), list(ys), linestyle="--", marker="x", markersize=4, linewidth=1.2, color=c,
                    label=f"{metric} CBPE estimate")
        if bounds and metric in bounds:
            ax.axhline(bounds[metric], color=c, linestyle=":", linewidth=1.1, label=f"{metric} alert bound")
    if reference is not None:
        ax.axvspan(*_shown_reference(reference, [x for v in (*realized.values(), *estimated.values()) for x in v[0]]),
                   color="#9aa5b1", alpha=0.22, label="reference (training) period")
    if alerts:
        y = ax.get_ylim()[0]
        ax.plot(list(alerts), [y] * len(alerts), linestyle="none", marker="^", markersize=9, color="#b42318",
                label="alert raised", clip_on=False)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("value", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.autofmt_xdate()
    return _png(fig)


def _shown_reference(reference: tuple[object, object], xs: Sequence[object]) -> tuple[object, object]:
    """The part of the reference period drawn beside the windows ``xs``: at most as long before
    the first window (or the reference end) as the windows span, at least a year (a training
    period reaching back decades would squeeze every window into the chart's right edge)."""
    import pandas as pd

    if not xs:
        return reference
    start, end = pd.Timestamp(reference[0]), pd.Timestamp(reference[1])
    first, last = min(pd.Timestamp(x) for x in xs), max(pd.Timestamp(x) for x in xs)
    span = max(last - first, pd.Timedelta(days=365))
    return max(start, min(first, end) - span), end


def drifted_counts(windows: Sequence[str], drifted: Sequence[int], tested: Sequence[int],
                   insufficient: Sequence[int], *, title: str) -> str:
    """Per window: features drifted, tested without drift, and not testable (insufficient data)."""
    import numpy as np

    x = np.arange(len(windows))
    d, t, i = (np.array(v, dtype=float) for v in (drifted, tested, insufficient))
    fig, ax = plt.subplots(figsize=(8.5, 2.8))
    ax.bar(x, d, color="#b42318", label="drifted")
    ax.bar(x, t - d, bottom=d, color="#7fb8a4", label="tested, no drift")
    ax.bar(x, i, bottom=t, color="#d0d7de", hatch="//", edgecolor="#8c959f", label="insufficient data (not tested)")
    for xi, di, ti in zip(x, d, t):
        if ti > 0:
            ax.text(xi, ti + 0.05, f"{int(di)}/{int(ti)}", ha="center", va="bottom", fontsize=6)
    step = max(1, len(windows) // 14)
    ax.set_xticks(x[::step], [str(w) for w in windows][::step], fontsize=7, rotation=45, ha="right")
    ax.set_ylabel("features", fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)


def distribution_grid(panels: Sequence[tuple[str, Sequence[str], Sequence[float], Sequence[float]]],
                      *, reference_label: str, current_label: str) -> str:
    """Small multiples: per feature, the reference and current share of each bin or category."""
    import numpy as np

    cols = 2
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(8.5, 2.4 * rows), squeeze=False)
    for ax, (title, labels, ref, cur) in zip(axes.flat, panels):
        x = np.arange(len(labels))
        ax.bar(x - 0.2, list(ref), width=0.4, color="#9aa5b1", label=reference_label)
        ax.bar(x + 0.2, list(cur), width=0.4, color="#0b6e99", label=current_label)
        ax.set_xticks(x, [str(s)[:14] for s in labels], fontsize=6, rotation=45, ha="right")
        ax.set_title(title, fontsize=8)
        ax.set_ylabel("share", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    return _png(fig)


def interval_dots(labels: Sequence[str], estimates: Sequence[float], lower: Sequence[float], upper: Sequence[float],
                  *, title: str, xlabel: str, bound: float | None = None, flagged: Sequence[bool] = ()) -> str:
    """One row per label: point estimate with its interval, a zero line and +-bound lines."""
    import numpy as np

    y = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(8.5, max(1.8, 0.3 * len(labels) + 1.0)))
    est = np.array(estimates, dtype=float)
    lo, hi = np.array(lower, dtype=float), np.array(upper, dtype=float)
    # A bootstrap percentile interval need not hold its point estimate: draw no negative arm.
    err = np.clip(np.vstack([np.where(np.isnan(lo), 0, est - lo), np.where(np.isnan(hi), 0, hi - est)]), 0, None)
    colors = ["#b42318" if (flagged and flagged[i]) else "#0b6e99" for i in range(len(labels))]
    ax.errorbar(est, y, xerr=err, fmt="none", ecolor="#57606a", elinewidth=1, capsize=3)
    ax.scatter(est, y, c=colors, zorder=3, s=22)
    ax.axvline(0, color="#57606a", linewidth=0.8)
    if bound is not None:
        for b in (-bound, bound):
            ax.axvline(b, color="#b42318", linestyle="--", linewidth=1)
    ax.set_yticks(y, [str(s) for s in labels], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)
