#!/usr/bin/env python
"""False-alarm rate and detection power of the drift detectors on generated Synthea populations.

The study of ``scripts/drift_power.py`` (UCI Diabetes, planted shifts) repeated on populations
generated with ``mlhops generate`` and loaded by our own pipeline, with a real shift: a second
site joining.

Populations (folders under ``--populations``, as ``scripts/demo`` names them):

* ``site A``: Massachusetts, seed 11, 800 patients, 8 years (the demo's site A);
* ``site A twin``: Massachusetts, seed 12, otherwise the same command (other patients, same
  generator and state): the null;
* ``site B``: Texas, seed 22, 300 patients, 2 years (the demo's site B).

Each population is loaded on its own (``mlhops nightly --only etl --only features`` with a
configuration overlay pointing ``etl.inputs`` at its folder and a warehouse of its own under
``--work``). The pools are its ``mlhops.features`` rows inside the common record span: every
visit (``--rows visits``, what the drift stage samples per window) or only the readmission
task's index stays (``--rows index-stays``: the visits ``build_labels`` labels for
``readmission_30d``; about 370 rows for 800 patients over 8 years, so only small sizes fit).

Site A's pool is split once by patient: one half fits the preprocessing and the VAE (as
``mlhops drift fit`` fits them on a disjoint part), the other half gives every trial a fresh
reference sample of n rows. Each trial draws a fresh current sample of n rows and runs every
product detector (its own permutation/split seed per trial), so trials are independent:

* ``null``: the current sample from the site A twin (false alarms);
* ``control: same patients``: reference and current rows drawn apart from site A's reference
  half, so from the same patients (rows exchangeable by construction: the tests' own null);
* ``site B at <share>``: round(share x n) rows from site B and the rest from the twin, share
  being site B's proportion of the pool rows after the join when both sites are loaded;
* ``site B only``: every current row from site B.

On the same draws the univariate screen of the stats stage runs as the product runs it
(``mlhops.drift.univariate``: KS from quantiles and chi-squared from counts, Benjamini-Hochberg
across features, minimum effect sizes; PSI over baseline decile bins on its own).

    flock /tmp/mlhops-tests.lock .venv/bin/python scripts/drift_power_generated.py --rows visits \\
        --sizes 100,200,400,800 --trials 60 --null-trials 200 --threads 1
    flock /tmp/mlhops-tests.lock .venv/bin/python scripts/drift_power_generated.py --rows index-stays \\
        --sizes 50,100 --trials 60 --null-trials 200 --threads 1

The first call loads the three populations (about 4 min each for 800 patients, under the lock:
it starts Spark); later calls reuse ``--work``. ``--load-only`` does just that part.

Writes ``<out>/drift-power-generated-<rows>.json`` and ``.png`` and the section "Generated
populations (Synthea)" of ``<out>/drift-power.md`` (one subsection per row set run; everything
above the section's hand-written subsection is regenerated, the rest of the file is kept).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from drift_power import clopper_pearson, sample  # noqa: E402  (the UCI study's machinery)

POPULATIONS = Path(os.environ.get("MLHOPS_CACHE", Path.home() / ".cache" / "mlhops")) / "populations"
SITE_A = "synthea-massachusetts-seed11-p800-y8-20261201"
SITE_A_TWIN = "synthea-massachusetts-seed12-p800-y8-20261201"
SITE_B = "synthea-texas-seed22-p300-y2-20261201"
# The demo's dates (scripts/demo): site B's records start at the join; site A's 8 years earlier.
JOIN_DATE = "2024-12-01"
SPAN_START = "2018-12-01"
REFERENCE_DATE = "2026-12-01"
TASK = "readmission_30d"
SECTION = "## Generated populations (Synthea)"
HAND = "### Reading the generated-population results"
NULL, MIX, ONLY_B = "null", "site B mixed in", "site B only"
# Reference and current rows drawn apart from the same patients: rows exchangeable by construction.
CONTROL = "control: same patients"
ROW_SETS = ("visits", "index-stays")
UNI_TESTS, UNI_PSI = "univariate KS/chi2 (BH)", "univariate PSI"
ANY_MULTI = "any of the 4"


@dataclass(frozen=True)
class Feat:
    name: str
    kind: str


def overlay(folder: Path) -> str:
    """Configuration overlay (``--conf``) loading one population, as ``conf/demo.yaml`` loads two."""
    return "\n".join([
        "# drift_power_generated.py: one generated population in a warehouse of its own.",
        "environment: local",
        "spark: {master: 'local[*]', delta_jars: cache, driver_memory: 4g}",
        "deid: {allow_default_salt: true}",
        "etl:",
        "  inputs:",
        "    synthea-csv:",
        f"      - {folder / 'csv'}",
        "",
    ])


def load_population(name: str, populations: Path, work: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Feature rows of one population through our ETL and feature build (cached under ``work``).

    Returns:
        One row per visit (feature columns, ``event_date``, ``index_stay``, ``label`` and a hashed
        patient key), and what was run.
    """
    folder = populations / name
    if not (folder / "population.json").exists():
        raise SystemExit(f"{folder}: no population.json; generate it first (see the docstring of this script)")
    place = work / name
    rows_file = place / "feature_rows.parquet"
    meta_file = place / "load.json"
    if rows_file.exists() and meta_file.exists():
        return pd.read_parquet(rows_file), json.loads(meta_file.read_text())
    place.mkdir(parents=True, exist_ok=True)
    conf, warehouse, log = place / "conf.yaml", place / "warehouse", place / "nightly.log"
    loaded_file = place / "nightly.json"  # written once the nightly succeeded: an export can be retried alone
    cmd = [str(ROOT / ".venv" / "bin" / "mlhops"), "nightly", "--conf", str(conf), "--warehouse", str(warehouse),
           "--only", "etl", "--only", "features", "--log-file", str(log)]
    if not loaded_file.exists():
        conf.write_text(overlay(folder))
        started = time.perf_counter()
        print(f"loading {name}: {' '.join(cmd[1:])}", flush=True)
        with open(place / "nightly.err", "w") as err:
            rc = subprocess.run(cmd, cwd=ROOT, stderr=err, check=False).returncode
        if rc not in (0, 3):  # 3: alerts at or above the configured severity, not a failure
            raise SystemExit(f"{name}: mlhops nightly exited {rc}; see {log} and {place / 'nightly.err'}")
        loaded_file.write_text(json.dumps({"command": "mlhops " + " ".join(cmd[1:]),
                                           "seconds": time.perf_counter() - started}))
    load = json.loads(loaded_file.read_text())
    frame = export_feature_rows(conf, warehouse)
    frame.to_parquet(rows_file, index=False)
    meta = {"population": name, **load, "rows": len(frame),
            "index_stays": int(frame["index_stay"].sum())}
    meta_file.write_text(json.dumps(meta, indent=1))
    return frame, meta


def export_feature_rows(conf: Path, warehouse: Path) -> pd.DataFrame:
    """``mlhops.features`` left-joined with the readmission task's labels, on the driver."""
    from pyspark.sql import functions as F

    from mlhops.config import load_settings
    from mlhops.features.spec import load_feature_specs
    from mlhops.io import Catalog, read_table
    from mlhops.io.tables.monitoring import FEATURES
    from mlhops.models.labels import build_labels
    from mlhops.models.task import load_task
    from mlhops.spark import get_spark

    settings = load_settings(str(conf), warehouse=str(warehouse))
    spark = get_spark(settings)
    try:
        catalog = Catalog(settings.warehouse)
        names = [s.name for s in load_feature_specs(settings)]
        labels = build_labels(read_table(spark, catalog, "omop.visit_occurrence"), load_task(settings, TASK))
        feats = read_table(spark, catalog, FEATURES)
        rows = feats.join(labels.select("visit_occurrence_id", "label"), "visit_occurrence_id", "left").select(
            # The patient only as a hash: the split by patient needs no identifier.
            F.xxhash64("person_id").alias("patient_key"), F.col("event_date").cast("string").alias("event_date"),
            F.col("label").isNotNull().alias("index_stay"), "label", *names)
        return rows.toPandas()
    finally:
        spark.stop()


def feature_list() -> list[Feat]:
    """Names and kinds of the features the product's detectors use (``drift.features`` over conf/features)."""
    from mlhops.config import load_settings
    from mlhops.drift.multivariate import drift_features
    from mlhops.features.spec import load_feature_specs

    settings = load_settings("local", warehouse="/tmp/unused-warehouse")
    return [Feat(s.name, s.kind) for s in drift_features(load_feature_specs(settings), settings.drift)]


def split_by_patient(frame: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two halves of ``frame`` with no patient in both (the fit part first)."""
    keys = frame["patient_key"].unique()
    fit_keys = set(rng.permutation(keys)[: len(keys) // 2])
    in_fit = frame["patient_key"].isin(fit_keys)
    return frame[in_fit].reset_index(drop=True), frame[~in_fit].reset_index(drop=True)


def bin_edges(fit: pd.DataFrame, features: list[Feat], n_bins: int) -> dict[str, list[float]]:
    """Numeric bin edges as ``bins_from_baseline``: the baseline's quantiles at i/n_bins, repeats collapsed."""
    edges = {}
    for f in features:
        values = fit[f.name].dropna().to_numpy(float) if f.kind == "numeric" else np.array([])
        if len(values):
            qs = np.quantile(values, [i / n_bins for i in range(1, n_bins)], method="inverted_cdf")
            edges[f.name] = sorted(set(float(q) for q in qs))
    return edges


def univariate_screen(ref: pd.DataFrame, cur: pd.DataFrame, features: list[Feat], edges: dict[str, list[float]],
                      cfg: Any) -> dict[str, tuple[float | None, bool]]:
    """The stats stage's univariate drift of one window against one reference, from the rows.

    As ``univariate_spark.evaluate_group``: numeric features through KS on quantile functions
    read at ``GRID_RANKS`` (exact here: a sketch holding at most k values is exact too) and PSI
    over the baseline bins; categorical and binary ones through chi-squared and PSI on counts.
    KS/chi2 p-values are BH-corrected across features and flag with their minimum effect size;
    PSI flags on its own at ``psi_threshold``.

    Returns:
        ``{detector: (smallest corrected p-value or largest PSI, any feature flagged)}``.
    """
    from mlhops.drift import univariate as U

    tests: list[U.TestOutcome] = []
    psi_max = 0.0
    for f in features:
        r, c = ref[f.name].dropna(), cur[f.name].dropna()
        if min(len(r), len(c)) < cfg.min_samples:
            continue  # insufficient_data: not tested
        if f.kind == "numeric":
            rv, cv = r.to_numpy(float), c.to_numpy(float)
            q_ref = np.quantile(rv, U.GRID_RANKS, method="inverted_cdf")
            q_cur = np.quantile(cv, U.GRID_RANKS, method="inverted_cdf")
            tests.append(U.ks_from_quantiles(q_ref, q_cur, len(rv), len(cv)))
            e = edges.get(f.name)
            if e:
                d = U.distances(U.hist_from_quantiles(q_ref, e, len(rv)), U.hist_from_quantiles(q_cur, e, len(cv)))
                psi_max = max(psi_max, d["psi"])
        else:
            rc = r.astype(str).value_counts().to_dict()
            cc = c.astype(str).value_counts().to_dict()
            tests.append(U.chi2_from_counts(rc, cc))
            cats = sorted(set(rc) | set(cc))
            d = U.distances(np.array([rc.get(k, 0.0) for k in cats]), np.array([cc.get(k, 0.0) for k in cats]))
            psi_max = max(psi_max, d["psi"])
    flags = U.flag_tests(tests, alpha=cfg.alpha, correction=cfg.correction,
                         min_effect={"ks": cfg.min_ks_d, "chi2": cfg.min_cramers_v})
    p_min = min((p for p, _ in flags if p is not None), default=None)
    return {UNI_TESTS: (p_min, any(flag for _, flag in flags)), UNI_PSI: (psi_max, psi_max >= cfg.psi_threshold)}


def in_span(frame: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    """Rows with ``start <= event_date < end`` (ISO date strings compare as dates)."""
    return frame[(frame["event_date"] >= start) & (frame["event_date"] < end)].reset_index(drop=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100,200,400,800", help="rows per side")
    p.add_argument("--trials", type=int, default=60, help="trials per site-change cell (design and size)")
    p.add_argument("--null-trials", type=int, default=200, help="trials per size of the null (twin) design")
    p.add_argument("--fit-rows", type=int, default=5000,
                   help="most rows the preprocessing and VAE are fitted on (drift.sample_cap in the product)")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--permutations", type=int, default=100)
    p.add_argument("--detectors", default="mmd,lsdd,classifier,ks")
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rows", choices=ROW_SETS, default="visits",
                   help="visits: every feature-table row (what the drift stage samples); index-stays: the task's rows")
    p.add_argument("--populations", default=str(POPULATIONS), help="folder holding the generated populations")
    p.add_argument("--site-a", default=SITE_A)
    p.add_argument("--site-a-twin", default=SITE_A_TWIN)
    p.add_argument("--site-b", default=SITE_B)
    p.add_argument("--work", default="/tmp/mlhops-drift-power-generated",
                   help="warehouses and extracted feature rows, one folder per population (reused)")
    p.add_argument("--out", default=str(ROOT / "docs"))
    p.add_argument("--load-only", action="store_true",
                   help="only load the populations into their warehouses and extract the rows (the Spark part)")
    p.add_argument("--report-only", action="store_true",
                   help="rewrite the section and pngs from <out>/drift-power-generated-*.json (no trials)")
    args = p.parse_args()
    out = Path(args.out)
    if args.report_only:
        write_report(out)
        return 0

    import torch

    from mlhops.config.stages import StatsSettings, UnivariateDriftSettings
    from mlhops.drift.detectors import SuiteConfig, fit_suite

    if args.threads:
        torch.set_num_threads(args.threads)
    populations, work = Path(args.populations), Path(args.work)
    loaded = {role: load_population(name, populations, work)
              for role, name in (("A", args.site_a), ("twin", args.site_a_twin), ("B", args.site_b))}
    if args.load_only:
        return 0
    started = time.perf_counter()
    load_start = os.getloadavg()
    features = feature_list()
    # Rows of the common span: site A and the twin cover all of it, site B its last 2 years.
    pools = {role: in_span(frame[frame["index_stay"]] if args.rows == "index-stays" else frame, SPAN_START,
                           REFERENCE_DATE) for role, (frame, _) in loaded.items()}
    after_join = {role: int((pools[role]["event_date"] >= JOIN_DATE).sum()) for role in ("A", "B")}
    # Site B's share of the rows the demo's warehouse (sites A and B) holds after the join.
    share_b = after_join["B"] / (after_join["A"] + after_join["B"])
    rng = np.random.default_rng(args.seed)
    fit_pool, ref_pool = split_by_patient(pools["A"], rng)
    sizes = [int(s) for s in args.sizes.split(",")]
    detectors = tuple(args.detectors.split(","))
    # Product defaults (conf/base.yaml drift section) except the device: CPU here.
    cfg = SuiteConfig(detectors=detectors, alpha=args.alpha, n_permutations=args.permutations, seed=args.seed,
                      device="cpu")
    uni = UnivariateDriftSettings()
    edges = bin_edges(fit_pool, features, StatsSettings().histogram_bins)
    fit_rows = sample(fit_pool, min(args.fit_rows, len(fit_pool)), rng)
    base = fit_suite(sample(ref_pool, min(sizes), rng), features, cfg, fit_sample=fit_rows)
    sources = {role: {"folder": name,
                      "population_json": json.loads((populations / name / "population.json").read_text()),
                      "load": loaded[role][1], "visits": len(loaded[role][0]), "pool": len(pools[role])}
               for role, name in (("A", args.site_a), ("twin", args.site_a_twin), ("B", args.site_b))}
    for src in sources.values():  # keep the provenance, not the per-file checksums
        src["population_json"].pop("tables", None)
        src["population_json"].pop("argv", None)
    info: dict[str, Any] = {
        "args": vars(args), "features": [f.__dict__ for f in features], "share_b": share_b, "after_join": after_join,
        "pools": {"fit": len(fit_pool), "fit_rows": len(fit_rows), "reference": len(ref_pool),
                  "twin": len(pools["twin"]), "B": len(pools["B"])},
        "sources": sources, "suite_config": cfg.__dict__ | {"detectors": list(detectors)},
        "univariate": uni.__dict__, "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "load_average_start": load_start, "rows": [],
    }
    rows: list[dict[str, Any]] = info["rows"]
    trial_seed = iter(range(args.seed * 1_000_003, args.seed * 1_000_003 + 10_000_000))
    out.mkdir(parents=True, exist_ok=True)

    def control(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        both = sample(ref_pool, 2 * n, rng)
        return both.iloc[:n].reset_index(drop=True), both.iloc[n:].reset_index(drop=True)

    def current(n: int, share: float) -> pd.DataFrame:
        k = int(round(share * n))
        parts = [sample(pools["twin"], n - k, rng), sample(pools["B"], k, rng)]
        return pd.concat([p for p in parts if len(p)], ignore_index=True)

    def run(design: str, share: float, n: int, trials: int) -> None:
        need = {"reference": 2 * n if design == CONTROL else n, "twin": n - int(round(share * n)),
                "B": int(round(share * n))}
        have = {"reference": len(ref_pool), "twin": len(pools["twin"]), "B": len(pools["B"])}
        if any(need[k] > have[k] for k in need):
            print(f"skip {design} n={n}: needs {need}, pools hold {have}", flush=True)
            return
        for t in range(trials):
            ref, cur = control(n) if design == CONTROL else (sample(ref_pool, n, rng), current(n, share))
            suite = fit_suite(ref, features, cfg, base=base)
            for o in suite.score(cur, seed=next(trial_seed)):
                rows.append({"design": design, "share_b": share, "n": n, "trial": t, "detector": o.detector,
                             "p_value": o.p_value, "drift": o.drift, "seconds": o.seconds})
            for det, (stat, flag) in univariate_screen(ref, cur, features, edges, uni).items():
                rows.append({"design": design, "share_b": share, "n": n, "trial": t, "detector": det,
                             "p_value": stat, "drift": flag, "seconds": None})
        done = pd.DataFrame([r for r in rows if r["design"] == design and r["n"] == n])
        rates = done.groupby("detector")["drift"].mean()
        elapsed = time.perf_counter() - started
        print(f"{elapsed / 60:5.1f} min  {design:16s} n={n:4d} " + " ".join(f"{d}={v:.3f}" for d, v in rates.items()),
              flush=True)
        info.update(elapsed_s=elapsed, load_average_now=os.getloadavg())
        (out / f"{stem(args.rows)}.json").write_text(json.dumps(info, default=str))
        write_report(out)

    # The null first (the false-alarm check), then the site change; the report is rewritten after
    # every cell, so an interrupted run still documents what it completed.
    for n in sizes:
        run(NULL, 0.0, n, args.null_trials)
        run(CONTROL, 0.0, n, args.trials)
    for n in sizes:
        run(MIX, share_b, n, args.trials)
        run(ONLY_B, 1.0, n, args.trials)
    return 0


def rate_cell(flags: pd.Series) -> str:
    k, m = int(flags.sum()), len(flags)
    lo, hi = clopper_pearson(k, m)
    return f"{k}/{m} = {k / m:.2f} [{lo:.2f}, {hi:.2f}]"


def with_any(res: pd.DataFrame, detectors: list[str]) -> pd.DataFrame:
    """``res`` plus one row per trial: flagged when any multivariate detector flagged it."""
    multi = res[res["detector"].isin(detectors)]
    anyf = multi.groupby(["design", "share_b", "n", "trial"], as_index=False)["drift"].any()
    return pd.concat([res, anyf.assign(detector=ANY_MULTI)], ignore_index=True)


def stem(rows: str) -> str:
    """File stem of one row set's results (``<out>/<stem>.json`` and ``.png``)."""
    return f"drift-power-generated-{rows}"


def plot(res: pd.DataFrame, info: dict[str, Any], columns: list[str], path: Path) -> None:
    """Flag rate against rows per side: the null, the mixed window and site B only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    args = argparse.Namespace(**info["args"])
    sizes = [int(s) for s in args.sizes.split(",")]
    designs = [(NULL, "null: MA seed 11 vs MA seed 12"), (MIX, f"site B at {info['share_b']:.0%} of the window"),
               (ONLY_B, "site B only")]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
    for ax, (design, title) in zip(axes, designs):
        cell = res[res["design"] == design]
        for d in columns:
            rates = cell[cell["detector"] == d].groupby("n")["drift"].mean()
            ax.plot(sizes, [rates.get(n, np.nan) for n in sizes], marker="o", label=d,
                    ls="--" if d.startswith("univariate") or d == ANY_MULTI else "-")
        ax.axhline(args.alpha, color="grey", lw=0.8, ls=":")
        ax.set_title(f"{title} ({args.rows})", fontsize=9)
        ax.set_xscale("log")
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.minorticks_off()
        ax.set_xlabel("rows per side")
        ax.set_ylim(-0.03, 1.03)
    axes[0].set_ylabel(f"share of trials flagged (alpha {args.alpha})")
    axes[-1].legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def header_lines(info: dict[str, Any]) -> list[str]:
    """What every row set shares: populations, how they were loaded, the design, the settings."""
    args = argparse.Namespace(**info["args"])
    src, cfg, uni = info["sources"], info["suite_config"], info["univariate"]
    lines = [
        SECTION,
        "",
        "Produced by `scripts/drift_power_generated.py`; everything in this section above its hand-written",
        "subsection is regenerated by that script (one subsection per `--rows` set run; the command is in each).",
        "",
        "**Populations.** Generated with `mlhops generate` (Synthea "
        f"{src['A']['population_json']['synthea_version']}, mlhops {src['A']['population_json']['mlhops_version']}),"
        f" reference date {REFERENCE_DATE}, in `$MLHOPS_CACHE/populations/`:",
        "",
        "| role | folder | generated with | records (alive + dead) | generation | visits loaded |",
        "|---|---|---|---|---|---|",
    ]
    for role, label in (("A", "site A (reference)"), ("twin", "site A twin (null)"), ("B", "site B (joins)")):
        pj = src[role]["population_json"]
        lines.append(f"| {label} | `{src[role]['folder']}` | `{pj['mlhops_command'].replace(str(Path.home()), '~')}` |"
                     f" {pj['records']['total']} | {pj['run']['seconds']:.0f} s, {pj['run']['generated_at']} |"
                     f" {src[role]['visits']} |")
    a_load = src["A"]["load"]["command"].replace(args.work, "$WORK").replace(src["A"]["folder"], "<population>")
    lines += [
        "",
        "**Through our pipeline.** Each population is loaded on its own: `" + a_load + "`, with an overlay",
        "(`$WORK/<population>/conf.yaml`, like `conf/demo.yaml`) that points `etl.inputs.synthea-csv` at its folder",
        f"(`$WORK` = `{args.work}`; about {src['A']['load']['seconds'] / 60:.0f} min for an 800-patient population)."
        " Then the `mlhops.features` rows are read with",
        f"the `{TASK}` task's labels (`build_labels`) joined, and kept when their event date is in [{SPAN_START},"
        f" {REFERENCE_DATE})",
        f"(site A's 8 years; site B's records start at the join, {JOIN_DATE}). Two row sets: `visits`, every feature",
        "row (what the drift stage samples per window), and `index-stays`, the task's index stays (inpatient and",
        f"ER-then-inpatient stays with an end date). Features: the {len(info['features'])} of `conf/features` that the"
        " drift stage uses, through the product preprocessing, VAE and detectors.",
        "",
        "**Design.** Site A's pool is split once by patient: one half fits the preprocessing and VAE, the other",
        "gives each trial a fresh reference sample of n rows; each trial draws a fresh current sample of n rows from",
        "the twin (null), from the twin with round(share x n) rows of site B (share: site B's proportion of the rows",
        "after the join in a warehouse holding both sites, as the demo's does), or from site B only. Reference and",
        "current samples never share a patient, except in the control, which draws both from the same patients",
        "(site A's reference half) to show the tests' calibration on exchangeable rows. Univariate screen: the",
        "stats stage's tests from `mlhops.drift.univariate` on the same two samples (KS from quantiles and",
        f"chi-squared from counts, {uni['correction'].upper()} across features,",
        f"alpha {uni['alpha']}, minimum KS D {uni['min_ks_d']} / Cramer's V {uni['min_cramers_v']}, features with <"
        f" {uni['min_samples']} values on a side untested; PSI over site A's",
        f"decile bins flags at >= {uni['psi_threshold']}). A window flags when any feature does. `{ANY_MULTI}`: any"
        " multivariate detector flags the window.",
        "",
        f"**Settings.** alpha = {args.alpha}, {args.permutations} permutations, product detector settings (VAE latent"
        f" {cfg['latent_dim']}, {cfg['vae_epochs']} epochs; classifier {cfg['classifier_epochs']} epochs,"
        " held-out 25%),"
        f" CPU only ({info['cpus']} cores shared with other work, {info['torch_threads']} torch thread(s)).",
        "",
    ]
    return lines



def _rate_table(title: str, res: pd.DataFrame, designs: dict[str, str], columns: list[str],
                sizes: list[int]) -> list[str]:
    """A titled Markdown table: one row per detector, the flag rate of each design (column label
    prefix -> design) and size (``-`` when not run)."""
    lines = ["", title, "",
             "| detector | " + " | ".join(f"{lbl}n = {n}" for lbl in designs for n in sizes) + " |",
             "|---|" + "---|" * (len(designs) * len(sizes))]
    for d in columns:
        cells = []
        for design in designs.values():
            for n in sizes:
                flags = res[(res["design"] == design) & (res["detector"] == d) & (res["n"] == n)]["drift"]
                cells.append(rate_cell(flags) if len(flags) else "-")
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    return lines

def rowset_lines(res: pd.DataFrame, info: dict[str, Any], columns: list[str]) -> list[str]:
    """Tables of one row set: false alarms, then detection at the site change."""
    args = argparse.Namespace(**info["args"])
    sizes = [int(s) for s in args.sizes.split(",")]
    share, pools = info["share_b"], info["pools"]
    cmd = (f"flock /tmp/mlhops-tests.lock .venv/bin/python scripts/drift_power_generated.py --rows {args.rows}"
           f" --sizes {args.sizes} --trials {args.trials} --null-trials {args.null_trials} --seed {args.seed}"
           f" --threads {args.threads}")
    title = "every visit" if args.rows == "visits" else f"the {TASK} task's index stays"
    lines = [
        f"### Rows: {title} (`--rows {args.rows}`)",
        "",
        f"Rerun: `{cmd}`.",
        f"Pools: site A {pools['fit']} fit-half rows ({pools['fit_rows']} sampled to fit the preprocessing and VAE) +"
        f" {pools['reference']} reference rows, twin {pools['twin']}, site B {pools['B']}."
        f" Site B's share after the join: {info['after_join']['B']} / ({info['after_join']['A']} +"
        f" {info['after_join']['B']}) = {share:.2f}.",
        f"{info.get('elapsed_s', 0) / 60:.1f} min wall (after loading); load average "
        f"{info['load_average_start'][0]:.1f} at the start, {info.get('load_average_now', [float('nan')])[0]:.1f} at"
        " the end.",
    ]
    lines += _rate_table("False alarms, MA seed 11 vs MA seed 12 (flagged / trials = rate [95% Clopper-Pearson "
                         "interval]):", res, {"": NULL}, columns, sizes)
    lines += _rate_table("Control, reference and current rows from the same patients (site A's reference half, "
                         "drawn apart):", res, {"": CONTROL}, columns, sizes)
    lines += _rate_table(f"Detection at the site change (current window with site B at {share:.0%}, and site B "
                         "only):", res, {f"{share:.0%} B, ": MIX, "100% B, ": ONLY_B}, columns, sizes)
    lines += ["", "A `-` cell was not run (a pool too small for that size, or the run stopped before it).", "",
              f"![flag rate vs sample size, {args.rows}]({stem(args.rows)}.png)", "",
              f"Raw per-trial results: `docs/{stem(args.rows)}.json`.", ""]
    return lines


def write_report(out: Path) -> None:
    """The png of each row set run and the generated part of the section in ``drift-power.md``."""
    lines: list[str] = []
    for rows in ROW_SETS:
        path = out / f"{stem(rows)}.json"
        if not path.exists():
            continue
        info = json.loads(path.read_text())
        detectors = list(info["suite_config"]["detectors"])
        columns = [*detectors, ANY_MULTI, UNI_TESTS, UNI_PSI]
        res = with_any(pd.DataFrame(info["rows"]), detectors)
        plot(res, info, columns, out / f"{stem(rows)}.png")
        if not lines:
            lines = header_lines(info)
        lines += rowset_lines(res, info, columns)
    md = out / "drift-power.md"
    text = md.read_text() if md.exists() else ""
    kept = ""
    if SECTION in text:
        head = text[: text.index(SECTION)]
        rest = text[text.index(SECTION):]
        if HAND in rest:
            kept = rest[rest.index(HAND):]
    else:
        head = text.rstrip("\n") + "\n\n" if text else ""
    md.write_text(head + "\n".join(lines) + ("\n" + kept if kept else ""))


if __name__ == "__main__":
    raise SystemExit(main())
