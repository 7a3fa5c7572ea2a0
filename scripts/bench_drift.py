#!/usr/bin/env python
"""Time the multivariate drift detectors against sample size and feature count.

Per (rows per side, feature count): fitting (preprocessing + VAE training on a separate fit
sample of the same size + building the alibi detectors on the reference) and scoring one current
sample with each detector through mlhops' pipeline (VAE latent embedding; MMD with the batched
one-kernel-matrix permutation test). Optionally times alibi-detect's ``MMDDrift`` as is (raw
features, float64, alibi's permutation loop) for the reference figure. Data are seeded Gaussian
features with a small shift (timing does not depend on the values). Runs on CUDA when present
(``--device auto``), else CPU.

    python scripts/bench_drift.py --sizes 1000,5000 --features 8,32 --alibi-baseline
    python scripts/bench_drift.py --device cpu --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))


@dataclass(frozen=True)
class _Feat:
    name: str
    kind: str


def _frames(n: int, d: int, seed: int):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    cols = [f"f{i}" for i in range(d)]
    ref = pd.DataFrame(rng.normal(size=(n, d)), columns=cols)
    cur = pd.DataFrame(rng.normal(size=(n, d)) + 0.02, columns=cols)
    fit = pd.DataFrame(rng.normal(size=(n, d)), columns=cols)
    return ref, cur, fit, [_Feat(c, "numeric") for c in cols]


def bench_pipeline(n: int, d: int, args: argparse.Namespace) -> list[dict]:
    import torch

    from mlhops.drift.detectors import SuiteConfig, fit_suite

    ref, cur, fit, feats = _frames(n, d, args.seed)
    cfg = SuiteConfig(detectors=tuple(args.detectors.split(",")), n_permutations=args.permutations,
                      vae_epochs=args.vae_epochs, latent_dim=args.latent_dim, classifier_epochs=args.classifier_epochs,
                      device=args.device)
    t0, c0 = time.perf_counter(), time.process_time()
    # Preprocessing and VAE fitted on their own n rows (as `mlhops drift fit` does), x_ref = ref.
    suite = fit_suite(ref, feats, cfg, fit_sample=fit)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    rows = []
    for name in cfg.detectors:
        # One detector at a time so process CPU time can be attributed to it.
        c0 = time.process_time()
        o = suite.score_detector(name, cur, seed=args.seed)
        rows.append({"path": "mlhops", "detector": o.detector, "rows_per_side": n, "features": d,
                     "permutations": args.permutations, "fit_s": round(fit_s, 3), "fit_cpu_s": round(fit_cpu, 3),
                     "vae_s": round(float(suite.meta.get("vae_seconds", 0.0)), 3),
                     "build_s": round(float(suite.meta.get(f"build_seconds_{name}", 0.0)), 3),
                     "score_s": round(o.seconds, 3),
                     "score_cpu_s": round(time.process_time() - c0, 3), "p_value": o.p_value,
                     "device": o.device, "torch_threads": torch.get_num_threads()})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def bench_alibi_mmd(n: int, d: int, args: argparse.Namespace) -> dict:
    """alibi-detect MMDDrift as is: raw float64 features, its own permutation loop."""
    import torch
    from alibi_detect.cd import MMDDrift

    from mlhops.drift.device import select_device, synchronize

    ref, cur, _, _ = _frames(n, d, args.seed)
    dev = select_device(args.device)
    t0, c0 = time.perf_counter(), time.process_time()
    det = MMDDrift(ref.to_numpy(), backend="pytorch", n_permutations=args.permutations, device=dev.type)
    t1, c1 = time.perf_counter(), time.process_time()
    torch.manual_seed(args.seed)
    pred = det.predict(cur.to_numpy())
    synchronize(dev)
    t2, c2 = time.perf_counter(), time.process_time()
    row = {"path": "alibi-as-is", "detector": "mmd", "rows_per_side": n, "features": d,
           "permutations": args.permutations, "fit_s": round(t1 - t0, 3), "fit_cpu_s": round(c1 - c0, 3),
           "score_s": round(t2 - t1, 3), "score_cpu_s": round(c2 - c1, 3), "p_value": float(pred["data"]["p_val"]),
           "device": dev.type, "torch_threads": torch.get_num_threads()}
    print(json.dumps(row), flush=True)
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,2000,5000", help="rows per side, comma-separated")
    p.add_argument("--features", default="8,32", help="feature counts, comma-separated")
    p.add_argument("--detectors", default="mmd,lsdd,classifier,ks")
    p.add_argument("--permutations", type=int, default=100)
    p.add_argument("--vae-epochs", type=int, default=10)
    p.add_argument("--latent-dim", type=int, default=8)
    p.add_argument("--classifier-epochs", type=int, default=3)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--alibi-baseline", action="store_true", help="also time alibi MMDDrift as is (slow on CPU)")
    p.add_argument("--alibi-sizes", default="", help="sizes for the baseline (default: --sizes)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default="", help="write all rows here")
    args = p.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    rows: list[dict] = []
    meta = {"python": platform.python_version(), "torch": torch.__version__, "machine": platform.machine(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}

    def save() -> None:
        # Rewritten after every measurement, so a run cut short by a time limit keeps its rows.
        if args.json:
            Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))

    for d in [int(v) for v in args.features.split(",")]:
        for n in [int(v) for v in args.sizes.split(",")]:
            rows += bench_pipeline(n, d, args)
            save()
        if args.alibi_baseline:
            for n in [int(v) for v in (args.alibi_sizes or args.sizes).split(",")]:
                rows.append(bench_alibi_mmd(n, d, args))
                save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
