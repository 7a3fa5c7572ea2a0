"""Benchmark of the profile computation (mlhops stats) against DuckDB, and incremental cost.

1. Synthetic feature rows (fixed seed) at three sizes are written once as Parquet.
2. Profile pass: ``mlhops.stats.states.compute_states`` (one aggregation producing the day
   states of every slice and feature: counts, moments, min/max, KLL and HLL sketches, category
   counts) over the Parquet files, forced with the ``noop`` sink; rows per second per size.
3. DuckDB baseline on the same Parquet files in the same run: the same metric set per day and
   slice (GROUPING SETS) with DuckDB's own approximate quantiles (t-digest), approximate
   distinct counts (HLL) and category histograms. Ratio = Spark time / DuckDB time.
4. Nightly increment: the stats stage on a Delta feature table of ``--history-days`` days,
   full recompute vs. one new day appended (MERGE, change data feed), as a fraction.

Usage: ``python scripts/bench_stats.py [--sizes 1000000 3000000 10000000] [--out DIR]``.
Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))

NUMERIC = ["age", "heart_rate", "sbp", "creatinine", "glucose", "length_of_stay_days", "n_drugs", "n_labs"]
CATEGORICAL = ["sex", "visit_type", "race"]
DAYS = 365
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def synth(n: int, seed: int = 7, days: int = DAYS, start: dt.date = dt.date(2024, 1, 1)) -> pa.Table:
    """Feature-table-shaped rows: plausible clinical marginals, 5% nulls in the labs."""
    rng = np.random.default_rng(seed)
    day = rng.integers(0, days, n)
    base = np.datetime64(start.isoformat())
    cols = {
        "visit_occurrence_id": np.arange(1, n + 1, dtype=np.int64),
        "event_date": (base + day.astype("timedelta64[D]")).astype("datetime64[D]"),
        "care_site_id": rng.integers(1, 9, n).astype(np.int32),
        "age": rng.uniform(0, 95, n),
        "heart_rate": rng.normal(80, 12, n).round(0),
        "sbp": rng.normal(122, 15, n).round(0),
        "creatinine": rng.lognormal(0.0, 0.35, n).round(2),
        "glucose": rng.normal(100, 20, n).round(1),
        "length_of_stay_days": rng.exponential(2.0, n).round(1),
        "n_drugs": rng.poisson(3, n).astype(float),
        "n_labs": rng.poisson(12, n).astype(float),
        "sex": rng.choice(["female", "male"], n),
        "visit_type": rng.choice(["outpatient", "emergency", "inpatient"], n, p=[0.8, 0.15, 0.05]),
        "race": rng.choice(["white", "black", "asian", "other", "unknown"], n, p=[0.6, 0.15, 0.1, 0.1, 0.05]),
    }
    table = pa.table(cols)
    for name in ("creatinine", "glucose"):
        mask = rng.random(n) < 0.05
        arr = np.where(mask, np.nan, cols[name])
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(arr, from_pandas=True))
    return table


def write_parquet(table: pa.Table, path: Path, files: int = 8) -> None:
    path.mkdir(parents=True, exist_ok=True)
    step = -(-table.num_rows // files)
    for i in range(files):
        pq.write_table(table.slice(i * step, step), path / f"part-{i:03d}.parquet", row_group_size=1 << 20)


def _tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by process ``root`` and its live descendants
    (the Spark JVM and its Python workers)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    total = 0.0
    for pid in tree:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            continue
    return total


def _spark_jvm_pid() -> int | None:
    """The Spark driver JVM started by this Python process (local mode), if any."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
                if ppid == os.getpid() and b"java" in Path(f"/proc/{entry}/cmdline").read_bytes():
                    return int(entry)
            except (OSError, IndexError, ValueError):
                continue
    return None


def _self_cpu() -> float:
    t = os.times()
    return t.user + t.system


def spark_profile(spark, path: Path, stats) -> float:  # noqa: ANN001
    from mlhops.features.spec import FeatureSpec
    from mlhops.stats.states import compute_states

    specs = [FeatureSpec(n, "numeric", "measurement", concept_ids=(1,), agg="mean") for n in NUMERIC] + [
        FeatureSpec(c, "categorical", "visit", field="visit_type") for c in CATEGORICAL
    ]
    rows = spark.read.parquet(str(path))
    start = time.perf_counter()
    compute_states(rows, specs, stats).write.format("noop").mode("overwrite").save()
    return time.perf_counter() - start


def duckdb_profile(path: Path) -> float:
    import duckdb

    num = ", ".join(
        f"count({c}), avg({c}), var_pop({c}), min({c}), max({c}), "
        f"approx_quantile({c}, {list(QUANTILES)}), approx_count_distinct({c})"
        for c in NUMERIC
    )
    cat = ", ".join(f"count({c}), histogram({c}), approx_count_distinct({c})" for c in CATEGORICAL)
    sql = f"""
        SELECT event_date, sex AS s1, CAST(care_site_id AS VARCHAR) AS s2, count(*), {num}, {cat}
        FROM read_parquet('{path}/*.parquet')
        GROUP BY GROUPING SETS ((event_date), (event_date, sex), (event_date, care_site_id))
    """
    con = duckdb.connect()
    con.execute(f"SET threads TO {os.cpu_count() or 2}")
    start = time.perf_counter()
    con.execute(sql).to_arrow_table()
    return time.perf_counter() - start


@contextlib.contextmanager
def _phases():  # noqa: ANN202
    """Collect the stats runner's "<phase> took <s>" log lines during one run."""
    import logging

    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            msg = record.getMessage()
            if " took " in msg:
                lines.append(msg.removeprefix("stats: "))

    log = logging.getLogger("mlhops.stats.timing")
    handler, level = Keep(), log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def incremental_vs_full(
    spark, workdir: Path, rows: int, history_days: int, nights: int = 1  # noqa: ANN001
) -> tuple[tuple[float, float], list[tuple[float, float]]]:
    """Stats stage: full recompute over the history vs. one appended day per night.

    Returns ``(wall s, CPU s)`` of the full run and of each night (CPU: the driver JVM, its
    Python workers and this process)."""
    from mlhops.config import load_settings
    from mlhops.io import merge_into, write_overwrite
    from mlhops.io.changes import enable_change_feed
    from mlhops.io.tables.monitoring import FEATURE_KEYS, FEATURES
    from mlhops.pipelines import stats as stats_stage
    from mlhops.pipelines.context import Context
    from mlhops.pipelines.stage import StageRequest

    defs = workdir / "features"
    defs.mkdir(parents=True, exist_ok=True)
    lines = ["features:"]
    lines += [f"  - {{name: {n}, kind: numeric, source: measurement, concept_ids: [1], agg: mean}}" for n in NUMERIC]
    lines += ["  - {name: sex, kind: categorical, source: person, field: sex}",
              "  - {name: visit_type, kind: categorical, source: visit, field: visit_type}",
              "  - {name: race, kind: categorical, source: person, field: race}"]
    (defs / "bench.yaml").write_text("\n".join(lines) + "\n")
    first = dt.date(2024, 1, 1)
    settings = load_settings(
        "local",
        warehouse=str(workdir / "wh"),
        conf_dir=REPO / "conf",
        overrides={
            "features": {"definitions_dir": str(defs)},
            "stats": {
                "slices": [{"name": "sex", "expr": "sex"}, {"name": "site", "expr": "cast(care_site_id AS string)"}],
                "baseline": {"start": first.isoformat(), "end": (first + dt.timedelta(days=28)).isoformat()},
            },
        },
    )
    ctx = Context.build(settings, spark)
    cat = ctx.catalog

    def frame(table: pa.Table):  # noqa: ANN202
        from pyspark.sql import functions as F

        df = spark.createDataFrame(table.to_pandas())
        return df.withColumns(
            {
                "person_id": F.col("visit_occurrence_id").cast("int"),
                "visit_occurrence_id": F.col("visit_occurrence_id").cast("int"),
                "event_time": F.col("event_date").cast("timestamp"),
                "event_date": F.col("event_date").cast("date"),
            }
        )

    history = synth(rows, seed=11, days=history_days, start=first)
    write_overwrite(frame(history), cat, FEATURES)
    enable_change_feed(spark, cat, FEATURES)
    jvm = _spark_jvm_pid()

    def cpu() -> float:
        return (_tree_cpu(jvm) if jvm else 0.0) + _self_cpu()

    t0, c0 = time.perf_counter(), cpu()
    stats_stage.run(ctx, StageRequest(run_id="full", force=True))
    full = (time.perf_counter() - t0, cpu() - c0)
    per_day = max(rows // history_days, 1)
    incs = []
    for night in range(nights):
        new = synth(per_day, seed=12 + night, days=1, start=first + dt.timedelta(days=history_days + night))
        ids = np.arange(rows + night * per_day + 1, rows + (night + 1) * per_day + 1)
        new = new.set_column(0, "visit_occurrence_id", pa.array(ids))
        merge_into(frame(new), cat, FEATURES, list(FEATURE_KEYS))
        t0, c0 = time.perf_counter(), cpu()
        with _phases() as phases:
            stats_stage.run(ctx, StageRequest(run_id=f"nightly-{night}"))
        incs.append((time.perf_counter() - t0, cpu() - c0))
        print(f"night {night + 1} phases: " + "; ".join(phases), flush=True)
    return full, incs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    parser.add_argument("--history-rows", type=int, default=1_000_000, help="0: skip the incremental measurement")
    parser.add_argument("--history-days", type=int, default=730)
    parser.add_argument("--nights", type=int, default=1, help="nightly increments measured after the full run")
    parser.add_argument("--skip-profile", action="store_true", help="skip the profile pass vs DuckDB")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from mlhops.config import load_settings
    from mlhops.config.stages import SliceSettings, StatsSettings
    from mlhops.spark import get_spark

    work = args.out or Path(tempfile.mkdtemp(prefix="bench_stats_"))
    settings = load_settings("local", warehouse=str(work / "wh0"), conf_dir=REPO / "conf")
    spark = get_spark(settings)
    stats = StatsSettings(slices=(SliceSettings("sex", "sex"), SliceSettings("site", "cast(care_site_id AS string)")))
    print(f"cpus={os.cpu_count()} spark={spark.version} features={len(NUMERIC)} numeric + {len(CATEGORICAL)} categorical,"
          f" slices=all+sex+site, {DAYS} days")
    jvm = _spark_jvm_pid()
    print("| rows | Spark states (s) | Spark rows/s | DuckDB (s) | Spark / DuckDB (wall) |"
          " Spark CPU s | DuckDB CPU s | Spark / DuckDB (CPU) | load avg |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in [] if args.skip_profile else args.sizes:
        path = work / f"rows_{n}"
        if not path.exists():
            write_parquet(synth(n), path)
        spark_profile(spark, path, stats) if n == args.sizes[0] else None  # JIT / first-read warm-up
        c0 = _tree_cpu(jvm) if jvm else float("nan")
        s = spark_profile(spark, path, stats)
        sc = (_tree_cpu(jvm) - c0) if jvm else float("nan")
        c0 = _self_cpu()
        d = duckdb_profile(path)
        dc = _self_cpu() - c0
        print(f"| {n:,} | {s:.1f} | {n / s:,.0f} | {d:.1f} | {s / d:.2f} | {sc:.1f} | {dc:.1f} | {sc / dc:.2f} |"
              f" {os.getloadavg()[0]:.1f} |", flush=True)
    if args.history_rows > 0:
        full, incs = incremental_vs_full(spark, work / "inc", args.history_rows, args.history_days, args.nights)
        print(f"\nstats stage, {args.history_rows:,} rows over {args.history_days} days: full {full[0]:.1f} s"
              f" ({full[1]:.1f} CPU s), load avg {os.getloadavg()[0]:.1f}")
        for i, (wall, cpu) in enumerate(incs, 1):
            print(f"night {i}: one new day {wall:.1f} s = {100 * wall / full[0]:.1f}% of full (wall);"
                  f" {cpu:.1f} CPU s = {100 * cpu / full[1]:.1f}% of full (CPU)", flush=True)
    if args.out is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
