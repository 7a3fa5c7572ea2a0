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
) -> str:
    """One line per series over windows; optional threshold line and CI bands."""
    fig, ax = plt.subplots(figsize=(8.5, 3.2))
    for name, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), marker="o", markersize=3, linewidth=1.3, label=str(name))
        if bands and name in bands:
            lo, hi = bands[name]
            ax.fill_between(list(xs), list(lo), list(hi), alpha=0.18)
    if threshold is not None:
        ax.axhline(threshold, color="#b42318", linestyle="--", linewidth=1, label="threshold")
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    if len(series) <= 12:
        ax.legend(fontsize=7, loc="best")
    fig.autofmt_xdate()
    return _png(fig)


def heatmap(
    rows: Sequence[str], cols: Sequence[str], values: Sequence[Sequence[float]], *, title: str, cbar: str
) -> str:
    """Feature x window heat map (e.g. drift effect sizes)."""
    import numpy as np

    data = np.array(values, dtype=float)
    fig, ax = plt.subplots(figsize=(8.5, max(2.0, 0.28 * len(rows) + 1.2)))
    im = ax.imshow(np.ma.masked_invalid(data), aspect="auto", cmap="OrRd")
    ax.set_yticks(range(len(rows)), [str(r) for r in rows], fontsize=7)
    step = max(1, len(cols) // 12)
    ax.set_xticks(range(0, len(cols), step), [str(c) for c in cols][::step], fontsize=7, rotation=45, ha="right")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label=cbar)
    return _png(fig)


def reliability(bins_pred: Sequence[float], bins_obs: Sequence[float], *, title: str) -> str:
    """Calibration (reliability) diagram."""
    fig, ax = plt.subplots(figsize=(3.8, 3.6))
    ax.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=1)
    ax.plot(list(bins_pred), list(bins_obs), marker="o")
    ax.set_xlabel("predicted risk", fontsize=9)
    ax.set_ylabel("observed rate", fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    return _png(fig)
