#!/usr/bin/env python
"""Detection rate vs sample size for planted shifts, and the false-alarm rate, on real data.

Population: UCI Diabetes 130-US hospitals (101,766 real inpatient encounters; ``?`` = missing),
split once (seeded) into four pools:

* ``train``: a logistic-regression readmission model is trained here; its output ``risk_score``
  is a feature, so a label-prevalence change is seen through model outputs;
* ``fit``: the suite's preprocessing and VAE are fitted once on ``--fit-rows`` rows of it, as
  ``mlhops drift fit`` fits them on its fit part;
* ``reference`` and ``test``: every trial draws a FRESH reference sample of n rows (the
  detectors' ``x_ref``) and a fresh current sample of n rows, plants the shift in the current
  sample and runs every detector (its own permutation/split seed per trial). Trials are therefore
  independent and the rates are unconditional: over references as well as windows.

Shifts (``none`` = no shift, the false-alarm rate at every size):

* ``lab_shift``: covariate shift in one lab: ``num_lab_procedures`` + 0.3 SD;
* ``age_sex_mix``: current sample drawn with weight 3 for women aged 70+;
* ``site_missingness``: at one of four sites (hash of encounter id), 50% of
  ``num_lab_procedures`` and ``num_medications`` set missing;
* ``label_prevalence``: current sample with readmission <30 days at 3x the base rate.

The false-alarm check at ``--null-size`` runs three designs, ``--null-trials`` trials each:

* ``fresh reference, disjoint fit``: as above (the product behaviour);
* ``fresh reference, fit on reference``: preprocessing and VAE fitted on each trial's own
  reference sample (the behaviour before the fit/reference split);
* ``fixed references``: ``--fixed-refs`` reference samples, each scored against an equal share of
  the trials' fresh windows (how an earlier version of this script ran, and how a registered
  detector runs: one reference for every window); reports the per-reference rates.

    python scripts/drift_power.py --sizes 200,500,1000,2000,5000 --trials 20 --null-trials 200 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
DATA = ROOT.parent / "shared" / "data" / "uci_diabetes_130_us_hospitals" / "diabetic_data.csv.gz"

NUMERIC = ("time_in_hospital", "num_lab_procedures", "num_procedures", "num_medications", "number_outpatient",
           "number_emergency", "number_inpatient", "number_diagnoses", "risk_score")
CATEGORICAL = ("race", "gender", "age", "admission_type_id", "admission_source_id", "A1Cresult", "payer_code")
BINARY = ("change", "diabetesMed")
SHIFTS = ("lab_shift", "age_sex_mix", "site_missingness", "label_prevalence")
OLD = ("[70-80)", "[80-90)", "[90-100)")
PRODUCT, IN_SAMPLE, FIXED = "fresh reference, disjoint fit", "fresh reference, fit on reference", "fixed references"
FINDINGS = "## Findings"


@dataclass(frozen=True)
class Feat:
    name: str
    kind: str


FEATURES = ([Feat(n, "numeric") for n in NUMERIC] + [Feat(n, "categorical") for n in CATEGORICAL]
            + [Feat(n, "binary") for n in BINARY])


def load(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, na_values=["?"], low_memory=False)
    for col in ("admission_type_id", "admission_source_id"):
        df[col] = df[col].astype("string")
    df["change"] = df["change"].map({"Ch": True, "No": False})
    df["diabetesMed"] = df["diabetesMed"].map({"Yes": True, "No": False})
    df["label"] = (df["readmitted"] == "<30").astype(int)
    df["site"] = (df["encounter_id"] * 2654435761 % 2**32) % 4
    return df


def add_risk_score(train: pd.DataFrame, pools: list[pd.DataFrame]) -> None:
    """Fit a readmission model on ``train`` and add its predicted risk to each pool (in place)."""
    from sklearn.linear_model import LogisticRegression

    from mlhops.drift.preprocess import fit_preprocessor

    feats = [f for f in FEATURES if f.name != "risk_score"]
    pre = fit_preprocessor(train, feats)
    model = LogisticRegression(max_iter=500, C=0.5).fit(pre.transform(train), train["label"])
    for pool in pools:
        pool["risk_score"] = model.predict_proba(pre.transform(pool))[:, 1]


def sample(pool: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` rows of ``pool`` without replacement."""
    return pool.iloc[rng.choice(len(pool), n, replace=False)].reset_index(drop=True)


def draw(pool: pd.DataFrame, n: int, shift: str, rng: np.random.Generator, lab_sd: float) -> pd.DataFrame:
    """A current sample of ``n`` rows with ``shift`` planted (``none``: as drawn)."""
    if shift == "age_sex_mix":
        w = np.where((pool["gender"] == "Female") & pool["age"].isin(OLD), 3.0, 1.0)
        idx = rng.choice(len(pool), n, replace=False, p=w / w.sum())
    elif shift == "label_prevalence":
        w = np.where(pool["label"] == 1, 3.0, 1.0)
        idx = rng.choice(len(pool), n, replace=False, p=w / w.sum())
    else:
        idx = rng.choice(len(pool), n, replace=False)
    cur = pool.iloc[idx].copy().reset_index(drop=True)
    if shift == "lab_shift":
        cur["num_lab_procedures"] = cur["num_lab_procedures"] + 0.3 * lab_sd
    elif shift == "site_missingness":
        hit = (cur["site"] == 0).to_numpy() & (rng.random(n) < 0.5)
        cur.loc[hit, ["num_lab_procedures", "num_medications"]] = np.nan
    return cur


def clopper_pearson(k: int, m: int, level: float = 0.95) -> tuple[float, float]:
    """Exact two-sided binomial confidence interval for ``k`` successes in ``m`` trials."""
    from scipy.stats import beta

    a = (1 - level) / 2
    lo = float(beta.ppf(a, k, m - k + 1)) if k > 0 else 0.0
    hi = float(beta.ppf(1 - a, k + 1, m - k)) if k < m else 1.0
    return lo, hi


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="200,500,1000,2000,5000", help="rows per side of the shift grid")
    p.add_argument("--trials", type=int, default=20, help="trials per shift (and 'none') and size")
    p.add_argument("--null-trials", type=int, default=200, help="unshifted trials per null design (at --null-size)")
    p.add_argument("--null-size", type=int, default=200)
    p.add_argument("--fixed-refs", type=int, default=10, help="reference samples of the fixed-reference design")
    p.add_argument("--fit-rows", type=int, default=5000, help="rows the preprocessing and VAE are fitted on")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--permutations", type=int, default=100)
    p.add_argument("--detectors", default="mmd,lsdd,classifier,ks")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--out", default=str(ROOT / "docs"))
    p.add_argument("--report-only", action="store_true",
                   help="rewrite drift-power.md/png from the run saved in <out>/drift-power.json (no trials)")
    args = p.parse_args()
    if args.report_only:
        info = json.loads((Path(args.out) / "drift-power.json").read_text())
        saved = argparse.Namespace(**{**vars(args), **info["args"], "out": args.out, "report_only": False})
        write_report(pd.DataFrame(info["rows"]), saved, tuple(saved.detectors.split(",")),
                     [int(s) for s in saved.sizes.split(",")], info, Path(args.out))
        return 0

    import torch

    from mlhops.drift.detectors import SuiteConfig, fit_suite

    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    load_start = os.getloadavg()
    df = load(Path(args.data))
    rng = np.random.default_rng(args.seed)
    train, fit_pool, ref_pool, test_pool = (df.iloc[t].reset_index(drop=True) for t in np.array_split(rng.permutation(len(df)), 4))
    add_risk_score(train, [fit_pool, ref_pool, test_pool])
    lab_sd = float(ref_pool["num_lab_procedures"].std())
    sizes = [int(s) for s in args.sizes.split(",")]
    detectors = tuple(args.detectors.split(","))
    # Product defaults (conf/base.yaml drift section) except the device: CPU here.
    cfg = SuiteConfig(detectors=detectors, alpha=args.alpha, n_permutations=args.permutations, seed=args.seed, device="cpu")
    fit_rows = sample(fit_pool, args.fit_rows, rng)
    base = fit_suite(sample(ref_pool, args.null_size, rng), FEATURES, cfg, fit_sample=fit_rows)
    rows: list[dict[str, Any]] = []
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    trial_seed = iter(range(args.seed * 1_000_003, args.seed * 1_000_003 + 10_000_000))

    def run(design: str, n: int, shift: str, trials: int) -> None:
        per_ref = max(1, trials // args.fixed_refs)
        suite = None
        for t in range(trials):
            ref_id = t // per_ref if design == FIXED else t
            if design != FIXED or t % per_ref == 0:
                ref = sample(ref_pool, n, rng)
                if design == IN_SAMPLE:
                    suite = fit_suite(ref, FEATURES, cfg, fit_sample=ref)
                else:
                    suite = fit_suite(ref, FEATURES, cfg, base=base)
            assert suite is not None
            cur = draw(test_pool, n, shift, rng, lab_sd)
            for o in suite.score(cur, seed=next(trial_seed)):
                rows.append({"design": design, "shift": shift, "n": n, "trial": t, "reference": ref_id,
                             "detector": o.detector, "p_value": o.p_value, "drift": o.drift, "seconds": o.seconds})
        done = [r for r in rows if r["design"] == design and r["shift"] == shift and r["n"] == n]
        rates = {d: np.mean([r["drift"] for r in done if r["detector"] == d]) for d in detectors}
        elapsed = time.perf_counter() - started
        print(f"{elapsed / 60:5.1f} min  {design:34s} {shift:17s} n={n:5d} " + " ".join(f"{d}={v:.3f}" for d, v in rates.items()),
              flush=True)
        info = {"args": vars(args), "elapsed_s": elapsed, "load_average_start": load_start,
                "load_average_now": os.getloadavg(), "torch_threads": torch.get_num_threads(),
                "suite_config": cfg.__dict__ | {"detectors": list(detectors)}, "rows": rows}
        (out / "drift-power.json").write_text(json.dumps(info))
        write_report(pd.DataFrame(rows), args, detectors, sizes, info, out)

    # Null designs first (the false-alarm check), then the shift grid by growing size; the report
    # is rewritten after every step, so an interrupted run still documents what it completed.
    for design in (PRODUCT, FIXED, IN_SAMPLE):
        run(design, args.null_size, "none", args.null_trials)
    for n in sizes:
        for shift in ("none", *SHIFTS):
            if not (shift == "none" and n == args.null_size):  # already run above, with more trials
                run(PRODUCT, n, shift, args.trials)
    return 0


def write_report(res: pd.DataFrame, args: argparse.Namespace, detectors: tuple[str, ...], sizes: list[int],
                 info: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = res[res["design"] == PRODUCT]  # the 'none' cell at --null-size is the product null design
    rate = grid.groupby(["shift", "n", "detector"])["drift"].mean().unstack("detector")
    done = grid.groupby(["shift", "n"])["trial"].nunique()
    panels = ("none", *SHIFTS)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), sharey=True)
    for ax, shift in zip(axes, panels):
        for d in detectors:
            ys = [rate[d].get((shift, n), np.nan) if d in rate else np.nan for n in sizes]
            ax.plot(sizes, ys, marker="o", label=d)
        ax.axhline(args.alpha, color="grey", lw=0.8, ls="--")
        ax.set_title("no shift (false alarms)" if shift == "none" else shift)
        ax.set_xscale("log")
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.minorticks_off()
        ax.set_xlabel("rows per side")
        ax.set_ylim(-0.03, 1.03)
    axes[0].set_ylabel(f"share of trials flagged (p < {args.alpha})")
    axes[0].legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(out / "drift-power.png", dpi=110)
    plt.close(fig)

    cfg = info["suite_config"]
    elapsed = info["elapsed_s"]
    max_half = 0.5 * (clopper_pearson(args.trials // 2, args.trials)[1] - clopper_pearson(args.trials // 2, args.trials)[0])
    lines = [
        "# Multivariate drift: detection power and false alarms",
        "",
        "Produced by `scripts/drift_power.py` (rerun: `.venv/bin/python scripts/drift_power.py "
        f"--sizes {args.sizes} --trials {args.trials} --null-trials {args.null_trials} --null-size {args.null_size}"
        f" --fixed-refs {args.fixed_refs} --fit-rows {args.fit_rows} --seed {args.seed}"
        + (f" --threads {args.threads}" if args.threads else "") + "`). Everything above the",
        "Findings section is regenerated by the script; the Findings section is hand-written and kept on reruns.",
        "",
        "**Data.** UCI Diabetes 130-US hospitals (101,766 real encounters, `?` = missing), split once (seeded) into",
        "four pools. A logistic-regression readmission model trained on the first adds `risk_score` (its output) as a",
        "feature. Features: 9 numeric (incl. `risk_score`), 7 categorical, 2 binary -> preprocessing (median imputation",
        "+ missingness indicators, scaling, one-hot of the fitted levels + `other`) -> our torch VAE for MMD / LSDD /",
        "KS on the latent means; the domain classifier (MLP; trained on 75% of the pooled rows, KS test on its",
        "held-out 25%) sees the preprocessed matrix.",
        "",
        f"**Fit and reference are disjoint, as in `mlhops drift fit`.** The preprocessing and the VAE are fitted once on",
        f"{args.fit_rows} rows of the second pool. Every trial draws a fresh reference sample (the detectors' `x_ref`)",
        "from the third pool and a fresh current sample from the fourth, so trials are independent and each rate is",
        "unconditional (over references and windows).",
        "",
        f"**What was run.** alpha = {args.alpha}, {args.permutations} permutations, product detector settings"
        f" (VAE latent {cfg['latent_dim']}, {cfg['vae_epochs']} epochs;",
        f"classifier {cfg['classifier_epochs']} epochs, held-out split {'k-fold' if cfg['classifier_folds'] > 1 else '25%'}),"
        f" CPU only (2 cores shared with other work, {info['torch_threads']} torch thread(s)),",
        f"{elapsed / 60:.1f} min wall in total; load average {info['load_average_start'][0]:.1f} at the start,"
        f" {info['load_average_now'][0]:.1f} at the end.",
        f"{args.trials} trials per shift and size: a detection rate near 0.5 carries a 95% interval of about"
        f" +/-{max_half:.2f}.",
        "",
        "**Shifts.** `lab_shift`: `num_lab_procedures` + 0.3 SD. `age_sex_mix`: current sample drawn with weight 3",
        "for women aged 70+. `site_missingness`: at one of four sites (hash of encounter id) 50% of",
        "`num_lab_procedures` and `num_medications` set missing. `label_prevalence`: readmission <30 d at 3x its",
        "base rate, visible to the detectors only through the features and `risk_score`.",
        "",
        f"## False-alarm rate (no shift, n = {args.null_size} rows per side)",
        "",
        f"- *{PRODUCT}*: the product behaviour, each trial a new reference and a new window.",
        f"- *{IN_SAMPLE}*: preprocessing and VAE fitted on each trial's own reference sample, which is also `x_ref`",
        "  (the behaviour before the fit/reference split).",
        f"- *{FIXED}*: {args.fixed_refs} reference samples, each scored against {args.null_trials // args.fixed_refs}"
        " fresh windows (one reference for many windows, as a registered detector runs and as an earlier version",
        "  of this script ran with a single reference); the last column gives the rate of each reference.",
        "",
        "| design | detector | flagged | rate | 95% interval (Clopper-Pearson) | per reference |",
        "|---|---|---|---|---|---|",
    ]
    for design in (PRODUCT, IN_SAMPLE, FIXED):
        null = res[(res["design"] == design) & (res["shift"] == "none") & (res["n"] == args.null_size)]
        for d in detectors:
            flags = null[null["detector"] == d]
            k, m = int(flags["drift"].sum()), len(flags)
            if m == 0:
                continue
            lo, hi = clopper_pearson(k, m)
            per = ""
            if design == FIXED:
                per = " ".join(f"{v:.2f}" for v in flags.groupby("reference")["drift"].mean())
            lines.append(f"| {design} | {d} | {k}/{m} | {k / m:.3f} | [{lo:.3f}, {hi:.3f}] | {per} |")
        if len(null):
            # A window raises the multivariate-drift alert when any detector flags it.
            anyf = null.groupby("trial")["drift"].any()
            k, m = int(anyf.sum()), len(anyf)
            lo, hi = clopper_pearson(k, m)
            lines.append(f"| {design} | any of the {len(detectors)} | {k}/{m} | {k / m:.3f} | [{lo:.3f}, {hi:.3f}] | |")
    lines += [
        "",
        "## Detection rate (share of trials flagged, p < alpha; design: fresh reference, disjoint fit)",
        "",
        "| shift | rows per side | " + " | ".join(detectors) + " |",
        "|---|---|" + "---|" * len(detectors),
    ]
    for shift in panels:
        for n in sizes:
            trials = int(done.get((shift, n), 0))
            if trials == 0:
                continue
            cells = [f"{rate[d].get((shift, n), np.nan):.2f}" if d in rate else "-" for d in detectors]
            lines.append(f"| {shift} | {n} ({trials} trials) | " + " | ".join(cells) + " |")
    lines += ["", "![detection rate vs sample size](drift-power.png)", "",
              "Raw per-trial results (p-values, flags, seconds): `docs/drift-power.json`.", ""]
    md = out / "drift-power.md"
    kept = ""
    if md.exists():
        old = md.read_text()
        if FINDINGS in old:
            kept = old[old.index(FINDINGS):]
    md.write_text("\n".join(lines) + ("\n" + kept if kept else ""))


if __name__ == "__main__":
    raise SystemExit(main())
