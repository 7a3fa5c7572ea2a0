#!/usr/bin/env python
"""Fault injection (issue 15): kill the etl, stats, stats --force, promote and alerts stages with
SIGKILL of their whole process group at random points, re-run them, and check that every table
(and the MLflow registry's aliases) ends as after an uninterrupted run.

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/python scripts/fault_injection.py --trials 20 --seed 15

Steps: prepare the warehouses each stage starts from, through the CLI's ``main`` in this process
on the shipped sample (data/sample, 27 patients; a harness task predicting any revisit within 30
days, as the sample has too few inpatient stays for the reference task): ``empty`` (etl),
``features`` (stats), ``stats`` (stats --force), ``trained`` with a champion and a challenger
(promote, alerts). Run each stage once uninterrupted (the baseline; its duration bounds the kill
delays). Then per trial copy the stage's prepared warehouse, run the stage through the real CLI
in a subprocess in its own process group (``--batch`` of them side by side), SIGKILL the group a
delay drawn uniformly (seeded) in [0, baseline duration] after the stage's ``started`` log line,
re-run the stage to completion and compare with the baseline (tests/support/fault_injection.py).
Writes docs/fault-injection.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "lib")]

from tests.support import fault_injection as fi  # noqa: E402


class _Lock:
    """An optional flock."""

    def __init__(self, path: Path | None) -> None:
        self.path, self.fh = path, None

    def take(self) -> None:
        if self.path is not None:
            import fcntl

            self.fh = self.path.open("a")
            fcntl.flock(self.fh, fcntl.LOCK_EX)

    def release(self) -> None:
        if self.fh is not None:
            self.fh.close()  # closing drops the flock
            self.fh = None


def _write(out: Path, args: argparse.Namespace, planned: int, prepare_s: float, total_s: float,
           baselines: dict[str, dict[str, float | int | None]], trials: list[fi.Trial]) -> None:
    """docs/fault-injection.json: the trials so far (written after each, so a cut-short run keeps them)."""
    summary: dict[str, dict[str, int]] = {}
    for t in trials:
        s = summary.setdefault(t.stage, {"trials": 0, "killed": 0, "identical": 0, "differs": 0})
        s["trials"] += 1
        s["killed"] += int(t.killed)
        s[t.outcome] += 1
    doc = {
        "command": "PYSPARK_PYTHON=.venv/bin/python .venv/bin/python scripts/fault_injection.py "
                   + (f"--plan {args.plan}" if args.plan else f"--trials {args.trials}") + f" --seed {args.seed}"
                   + f" --batch {args.batch}",
        "seed": args.seed,
        "written_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "trials_planned": planned,
        "trials_done": len(trials),
        "population": "data/sample/synthea27_csv (27 patients, Synthea CSV)",
        "kill": "SIGKILL of the CLI's process group (driver, Spark JVM, Python workers), the delay counted "
                "from the stage's 'started' log line, drawn uniformly in [0, the baseline's stage duration]",
        "run_dependent_columns": fi.RUN_DEPENDENT,
        "prepare_s": round(prepare_s, 1),
        "total_s": round(total_s, 1),
        "baselines": baselines,
        "summary": summary,
        "trials": [t.as_json() for t in trials],
    }
    out.write_text(json.dumps(doc, indent=2) + "\n")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=20, help="trials in all, spread evenly over the stages")
    p.add_argument("--plan", help="trials per stage instead, e.g. etl:2,stats:4,stats-force:5,promote:5,alerts:4")
    p.add_argument("--seed", type=int, default=15, help="seed of the kill delays")
    p.add_argument("--stages", default=",".join(fi.CALLS), help=f"comma-separated, of {', '.join(fi.CALLS)}")
    p.add_argument("--work", type=Path, help="work folder (default: a temporary one, removed at the end)")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "fault-injection.json")
    p.add_argument("--batch", type=int, default=4, help="killed runs started side by side")
    p.add_argument("--stop-after-s", type=float, help="start no batch of trials after this many seconds "
                                                      "(the JSON says how many of those planned were done)")
    p.add_argument("--lock", type=Path, help="hold this flock file for the run (a shared machine's test lock)")
    args = p.parse_args()
    labels = args.stages.split(",")
    if args.plan:
        counts = {k: int(v) for k, v in (x.split(":") for x in args.plan.split(","))}
        labels = list(counts)
        order = [label for n in range(max(counts.values())) for label in labels if n < counts[label]]
    unknown = [s for s in labels if s not in fi.CALLS]
    if unknown:
        p.error(f"unknown stages {unknown}")
    work = args.work or Path(tempfile.mkdtemp(prefix="mlhops-fi-"))
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    conf = fi.overlay(work / "fault-injection.yaml")
    t_all = time.monotonic()

    from mlhops.config import load_settings
    from mlhops.spark import get_spark

    # One session in this process prepares the warehouses, runs the baselines and the re-runs
    # (through the CLI's main) and compares; only the runs that are killed are CLI subprocesses.
    lock = _Lock(args.lock)
    lock.take()
    spark = get_spark(load_settings(str(conf), warehouse=str(work / "compare")))
    run = fi.in_process_runner(conf, logs)
    print(f"preparing warehouses under {work} ...", flush=True)
    t0 = time.monotonic()
    prep_s: dict[str, float] = {}
    states = fi.prepare(work / "states", run, prep_s)
    prepare_s = time.monotonic() - t0
    print(f"  prepared in {prepare_s:.0f} s: registry {fi.registry_state(states['trained'])}", flush=True)

    baselines: dict[str, dict[str, float | int | None]] = {}
    baseline_dirs: dict[str, Path] = {}
    for label in labels:
        call = fi.CALLS[label]
        if label in ("etl", "stats"):  # the preparation's step of that name is that uninterrupted run
            baseline_dirs[label] = states[label]
            baselines[label] = {"rc": 0, "stage_s": round(prep_s[label], 1)}
        else:
            baseline_dirs[label] = wh = fi.copy_state(states[call.state], work / "baseline" / label)
            t0 = time.monotonic()
            rc = run(call.argv, wh, f"fi-baseline-{label}")
            if rc not in (0, 3):
                raise SystemExit(f"baseline {label} exited {rc}")
            baselines[label] = {"rc": rc, "stage_s": round(time.monotonic() - t0, 1)}
        print(f"  baseline {label:<11} stage {baselines[label]['stage_s']:6.1f} s", flush=True)

    rng = random.Random(args.seed)
    if not args.plan:
        order = [labels[i % len(labels)] for i in range(args.trials)]
    plan = list(enumerate(order))
    delays = {i: round(rng.uniform(0.0, float(baselines[label]["stage_s"] or 0.0)), 2) for i, label in plan}
    trials: list[fi.Trial] = []
    for b in range(0, len(plan), args.batch):
        if args.stop_after_s is not None and time.monotonic() - t_all > args.stop_after_s:
            print(f"  stopping: {args.stop_after_s:.0f} s spent, {len(trials)} of {len(plan)} trials done", flush=True)
            break
        batch = plan[b:b + args.batch]
        with ThreadPoolExecutor(len(batch)) as pool:  # the killed runs of a batch go side by side
            futures = {i: pool.submit(fi.kill_run, i, fi.CALLS[label], states[fi.CALLS[label].state],
                                      work / "trials" / f"{i:02d}-{label}", conf, kill_after_s=delays[i])
                       for i, label in batch}
            killed = {i: f.result() for i, f in futures.items()}
        for i, label in batch:
            call = fi.CALLS[label]
            folder = work / "trials" / f"{i:02d}-{label}"
            trial, wh = fi.run_trial(i, call, states[call.state], folder, conf, kill_after_s=delays[i],
                                     rerun=run, killed=killed[i])
            fi.judge(spark, trial, wh, baseline_dirs[label], states[call.state])
            trials.append(trial)
            print(f"  trial {i:2d} {label:<11} kill at {delays[i]:6.1f} s  killed={trial.killed!s:<5} "
                  f"re-run {trial.rerun_s:6.1f} s  {trial.outcome}  committed {len(trial.committed_before_kill)} "
                  f"tables; last: {trial.last_step[:80]}" + "".join(f"\n      {d}" for d in trial.differences),
                  flush=True)
            shutil.rmtree(wh, ignore_errors=True)
            _write(args.out, args, len(plan), prepare_s, time.monotonic() - t_all, baselines, trials)
    spark.stop()
    lock.release()

    _write(args.out, args, len(plan), prepare_s, time.monotonic() - t_all, baselines, trials)
    print(f"{sum(t.outcome == 'identical' for t in trials)}/{len(trials)} identical; wrote {args.out} "
          f"in {time.monotonic() - t_all:.0f} s", flush=True)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(t.outcome == "identical" for t in trials) else 1


if __name__ == "__main__":
    raise SystemExit(main())
