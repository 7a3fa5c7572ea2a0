"""Benchmark of the Delta layout choices of ``mlhops.io.delta``: MERGEs bounded by a key range, and
compaction of tables that nightly writes leave in many small files.

Data: feature-table-shaped rows (``bench_stats.synth``, fixed seed), ``--rows-per-night`` rows per
night, visit ids increasing night by night as the ETL assigns them. A table of K nights is written
once per size (one file per night, as one nightly MERGE of new visits leaves it, or eight per night
for the fragmented layout) and copied before each timed operation, so every timing starts from the
same table.

1. Nightly MERGE, before/after: the next night (its new visits plus corrections of 5% of the last
   night's) merged with ``merge_into`` unbounded (before) and with ``bound_by`` the visit id
   (after: the target side limited to the source's id range, so Delta skips the older files).
   Median of ``--repeats`` runs on fresh copies; cost against K shows how each grows with the
   table.
2. Small files, before/after: the same K nights written as 8 files per night (a nightly MERGE's
   shuffle leaves several) vs the same table after Delta's compaction (what a write that leaves
   64 or more small files now does, ``mlhops.io.delta.compact_if_fragmented``): a full scan (one
   aggregate over every row) and the bounded nightly MERGE, plus the compaction's own time; and
   the MERGE on the compacted table with deletion vectors on (as mlhops creates the tables that
   MERGEs update), which marks the corrected rows instead of rewriting the compacted file.

Usage: ``python scripts/bench_delta_layout.py [--nights 30 120 360] [--rows-per-night 5000]``.
Prints Markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))
sys.path.insert(0, str(REPO / "scripts"))

KEY = "visit_occurrence_id"
NAME = "mlhops.features"
CORRECTED = 0.05


def _session():
    from mlhops.config import load_settings
    from mlhops.spark import get_spark

    settings = load_settings("local", warehouse=tempfile.mkdtemp(prefix="bench-layout-"), conf_dir=REPO / "conf")
    spark = get_spark(settings)
    spark.sparkContext.setLogLevel("ERROR")
    # The base tables' files per night are the point: adaptive execution would coalesce them.
    spark.conf.set("spark.sql.adaptive.coalescePartitions.enabled", "false")
    return spark


def _rows(spark, nights: int, per_night: int):
    """``nights`` nights of rows plus the next one; ids increase with the night; cached."""
    from bench_stats import synth
    from pyspark.sql import functions as F

    table = synth((nights + 1) * per_night, days=nights + 1)
    df = spark.createDataFrame(table.to_pandas())
    df = df.withColumn("night", F.floor((F.col(KEY) - 1) / per_night).cast("int"))
    df = df.withColumn("event_date", F.date_add(F.lit("2024-01-01").cast("date"), F.col("night")))
    return df.localCheckpoint(eager=True)


def _write_base(rows, path: str, nights: int, files_per_night: int) -> None:
    """Written directly (no compaction): the layouts compared stay as written."""
    from pyspark.sql import functions as F

    base = rows.where(F.col("night") < nights)
    base.repartitionByRange(nights * files_per_night, KEY).drop("night").write.format("delta").save(path)


def _next_night(rows, nights: int):
    """Night ``nights``'s new visits and corrections of 5% of night ``nights - 1``'s rows."""
    from pyspark.sql import functions as F

    new = rows.where(F.col("night") == nights)
    fixes = rows.where(F.col("night") == nights - 1).sample(fraction=CORRECTED, seed=3).withColumn(
        "glucose", F.col("glucose") + F.lit(1.0))
    return new.unionByName(fixes).drop("night").localCheckpoint(eager=True)


def _timed(base: str, scratch: Path, op: Callable[[str], None], repeats: int) -> float:
    """Median seconds of ``op`` on fresh copies of the table at ``base``."""
    times = []
    for i in range(repeats):
        root = scratch / f"copy{i}"  # a warehouse whose one table is the copy
        shutil.rmtree(root, ignore_errors=True)
        copy = root / NAME.replace(".", "/")
        shutil.copytree(base, copy)
        t0 = time.perf_counter()
        op(str(copy))
        times.append(time.perf_counter() - t0)
        shutil.rmtree(root, ignore_errors=True)
    return statistics.median(times)


def _merge(spark, source, bound: bool) -> Callable[[str], None]:
    from mlhops.io import Catalog, merge_into

    def run(path: str) -> None:  # path: <root>/mlhops/features, as _timed lays the copy out
        merge_into(source, Catalog(str(Path(path).parents[1])), NAME, [KEY], bound_by=KEY if bound else None)
    return run


def _scan(spark) -> Callable[[str], None]:
    from pyspark.sql import functions as F

    def run(path: str) -> None:
        spark.read.format("delta").load(path).agg(F.count(F.lit(1)), F.avg("glucose")).collect()
    return run


def _files(spark, path: str) -> int:
    return int(spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()["numFiles"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nights", type=int, nargs="+", default=[30, 120, 360])
    ap.add_argument("--rows-per-night", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="scratch directory (default: a temporary one)")
    args = ap.parse_args()
    scratch = args.out or Path(tempfile.mkdtemp(prefix="bench-layout-"))
    spark = _session()
    from mlhops.io import delta
    from mlhops.io.delta import DELETION_VECTORS

    # Compaction is timed on its own (part 2): the timed MERGEs must not include one.
    delta.COMPACT_AFTER_FILES = 10**9
    print(f"# load at start: {os.getloadavg()[0]:.2f} (1-min), {os.cpu_count()} cores", flush=True)
    merges, smalls = [], []
    for nights in args.nights:
        rows = _rows(spark, nights, args.rows_per_night)
        source = _next_night(rows, nights)
        one = str(scratch / f"n{nights}-one")
        _write_base(rows, one, nights, 1)
        if not merges:  # warm-up (the first MERGE of a process compiles its code paths), untimed
            _timed(one, scratch, _merge(spark, source, bound=False), 1)
        before = _timed(one, scratch, _merge(spark, source, bound=False), args.repeats)
        after = _timed(one, scratch, _merge(spark, source, bound=True), args.repeats)
        merges.append((nights, nights * args.rows_per_night, _files(spark, one), before, after))
        print(f"merge K={nights}: unbounded {before:.2f}s bounded {after:.2f}s", flush=True)

        frag = str(scratch / f"n{nights}-frag")
        _write_base(rows, frag, nights, 8)
        compacted = str(scratch / f"n{nights}-compact")
        shutil.copytree(frag, compacted)
        from delta.tables import DeltaTable

        t0 = time.perf_counter()
        DeltaTable.forPath(spark, compacted).optimize().executeCompaction()
        compact_s = time.perf_counter() - t0
        with_dv = str(scratch / f"n{nights}-dv")
        shutil.copytree(compacted, with_dv)
        spark.sql(f"ALTER TABLE delta.`{with_dv}` SET TBLPROPERTIES ('{DELETION_VECTORS[0]}' = '{DELETION_VECTORS[1]}')")
        scan_frag = _timed(frag, scratch, _scan(spark), args.repeats)
        scan_comp = _timed(compacted, scratch, _scan(spark), args.repeats)
        merge_frag = _timed(frag, scratch, _merge(spark, source, bound=True), args.repeats)
        merge_comp = _timed(compacted, scratch, _merge(spark, source, bound=True), args.repeats)
        merge_dv = _timed(with_dv, scratch, _merge(spark, source, bound=True), args.repeats)
        smalls.append((nights, _files(spark, frag), _files(spark, compacted), scan_frag, scan_comp,
                       merge_frag, merge_comp, merge_dv, compact_s))
        print(f"small files K={nights}: scan {scan_frag:.2f}->{scan_comp:.2f}s merge {merge_frag:.2f}->{merge_comp:.2f}s"
              f" (deletion vectors {merge_dv:.2f}s)", flush=True)
        for p in (one, frag, compacted, with_dv):
            shutil.rmtree(p, ignore_errors=True)
        rows.unpersist()
    print(f"# load at end: {os.getloadavg()[0]:.2f} (1-min)")
    print("\n| nights in table | rows | files | unbounded MERGE s (before) | bounded MERGE s (after) | after/before |")
    print("|---:|---:|---:|---:|---:|---:|")
    for nights, n, files, before, after in merges:
        print(f"| {nights} | {n:,} | {files} | {before:.2f} | {after:.2f} | {after / before:.2f} |")
    print("\n| nights | files 8/night | files compacted | full scan s (8/night) | full scan s (compacted) "
          "| bounded MERGE s (8/night) | bounded MERGE s (compacted) | bounded MERGE s (compacted, deletion vectors) "
          "| compaction s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for nights, ff, fc, sf, sc, mf, mc, md, cs in smalls:
        print(f"| {nights} | {ff} | {fc} | {sf:.2f} | {sc:.2f} | {mf:.2f} | {mc:.2f} | {md:.2f} | {cs:.2f} |")
    spark.stop()


if __name__ == "__main__":
    main()
