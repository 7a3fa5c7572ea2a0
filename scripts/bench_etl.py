#!/usr/bin/env python
"""ETL throughput (source rows/s) at several population sizes, with a DuckDB baseline.

The shared 27-patient Synthea 3.x export is scaled by copying it k times: each copy gets fresh
patient/encounter/claim/... ids (the UUIDs are rewritten per copy) and all dates shifted by k
days; organisations, providers and payers stay shared, as in a real export. For every size the
full ETL (``mlhops.pipelines.etl.run``: parse, de-identify, map, all OMOP tables, eras,
quarantine, MERGE) runs into a fresh warehouse, and DuckDB does the measurement-to-OMOP mapping
(observations.csv joined to CONCEPT / "Maps to" / UCUM, Measurement-domain rows written as
Parquet) on the same files. The same mapping as one plain Spark SQL query (no checks, lineage,
de-identification or Delta) runs too: the engine's floor for this work on this machine.
Results go to stdout as a Markdown table.

Usage: .venv/bin/python scripts/bench_etl.py [--sizes 1,2,4,8] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))

SAMPLE = REPO / "data" / "sample" / "synthea27_csv"
VOCAB = REPO / "data" / "vocabulary"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthea_scaler import scale  # noqa: E402 - scripts/ is not a package

# Source concept, "Maps to" standard concept and its domain of each observation row (both engines).
MAPPED = """src AS (
    SELECT o.*, c.concept_id AS source_concept_id FROM obs o
    LEFT JOIN concept c ON c.vocabulary_id = 'LOINC' AND c.concept_code = o.CODE
  ), std AS (
    SELECT s.*, t.concept_id AS measurement_concept_id, t.domain_id
    FROM src s LEFT JOIN rel r ON r.concept_id_1 = s.source_concept_id
    LEFT JOIN concept t ON t.concept_id = r.concept_id_2 AND t.standard_concept = 'S'
  )"""

DUCKDB_SQL = """
CREATE TEMP TABLE concept AS SELECT * FROM read_csv('{vocab}/CONCEPT.csv.gz', header=true, all_varchar=true);
CREATE TEMP TABLE rel AS SELECT * FROM read_csv('{vocab}/CONCEPT_RELATIONSHIP.csv.gz', header=true, all_varchar=true)
  WHERE relationship_id = 'Maps to' AND (invalid_reason IS NULL OR invalid_reason = '');
COPY (
  WITH obs AS (
    SELECT * FROM read_csv('{obs}', header=true, all_varchar=true)
  ), {mapped}
  SELECT row_number() OVER () AS measurement_id,
         hash(std.PATIENT) AS person_id,
         COALESCE(CAST(std.measurement_concept_id AS INTEGER), 0) AS measurement_concept_id,
         CAST(TRY_CAST(std."DATE" AS TIMESTAMP) AS DATE) AS measurement_date,
         TRY_CAST(std."DATE" AS TIMESTAMP) AS measurement_datetime,
         32817 AS measurement_type_concept_id,
         TRY_CAST(std."VALUE" AS DOUBLE) AS value_as_number,
         COALESCE(CAST(u.concept_id AS INTEGER), 0) AS unit_concept_id,
         std.CODE AS measurement_source_value,
         COALESCE(CAST(std.source_concept_id AS INTEGER), 0) AS measurement_source_concept_id,
         std.UNITS AS unit_source_value, std."VALUE" AS value_source_value
  FROM std LEFT JOIN concept u ON u.vocabulary_id = 'UCUM' AND u.concept_code = std.UNITS
  WHERE COALESCE(std.domain_id, CASE WHEN std.TYPE = 'numeric' THEN 'Measurement' END) = 'Measurement'
) TO '{out}' (FORMAT parquet);
"""


def duckdb_measurements(input_dir: Path, out: Path) -> tuple[int, float]:
    """Measurement mapping in DuckDB: (observation rows read, seconds)."""
    import duckdb

    obs = input_dir / "observations.csv"
    with open(obs, encoding="utf-8") as fh:
        n = sum(1 for _ in fh) - 1
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    t0 = time.perf_counter()
    con.execute(DUCKDB_SQL.format(vocab=VOCAB, obs=obs, out=out / "measurement.parquet", mapped=MAPPED))
    return n, time.perf_counter() - t0


SPARK_SQL = """
WITH {mapped}
SELECT monotonically_increasing_id() AS measurement_id,
       xxhash64(std.PATIENT) AS person_id,
       COALESCE(CAST(std.measurement_concept_id AS INT), 0) AS measurement_concept_id,
       CAST(try_cast(std.`DATE` AS TIMESTAMP) AS DATE) AS measurement_date,
       try_cast(std.`DATE` AS TIMESTAMP) AS measurement_datetime,
       32817 AS measurement_type_concept_id,
       try_cast(std.`VALUE` AS DOUBLE) AS value_as_number,
       COALESCE(CAST(u.concept_id AS INT), 0) AS unit_concept_id,
       std.CODE AS measurement_source_value,
       COALESCE(CAST(std.source_concept_id AS INT), 0) AS measurement_source_concept_id,
       std.UNITS AS unit_source_value, std.`VALUE` AS value_source_value
FROM std LEFT JOIN concept u ON u.vocabulary_id = 'UCUM' AND u.concept_code = std.UNITS
WHERE COALESCE(std.domain_id, CASE WHEN std.TYPE = 'numeric' THEN 'Measurement' END) = 'Measurement'
"""


def spark_measurements(spark, input_dir: Path, out: Path) -> float:  # noqa: ANN001 - SparkSession
    """The DuckDB query's measurement mapping as one Spark SQL query on the same files (the
    engine's floor for this work: no checks, lineage, de-identification or Delta): seconds."""
    t0 = time.perf_counter()
    read = spark.read.option("header", "true")
    read.csv(str(input_dir / "observations.csv")).createOrReplaceTempView("obs")
    read.csv(str(VOCAB / "CONCEPT.csv.gz")).createOrReplaceTempView("concept")
    read.csv(str(VOCAB / "CONCEPT_RELATIONSHIP.csv.gz")).where(
        "relationship_id = 'Maps to' AND (invalid_reason IS NULL OR invalid_reason = '')"
    ).createOrReplaceTempView("rel")
    spark.sql(SPARK_SQL.format(mapped=MAPPED)).write.mode("overwrite").parquet(str(out / "spark-measurement"))
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,2,4,8", help="copies of the 27-patient export, comma-separated")
    ap.add_argument("--out", default=None, help="scratch folder (default: a temp dir, removed)")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    from mlhops.config import load_settings
    from mlhops.pipelines import etl
    from mlhops.pipelines.context import Context
    from mlhops.pipelines.options import EtlOptions
    from mlhops.pipelines.stage import StageRequest
    from mlhops.spark import get_spark

    def run_etl(settings, run_id: str, inp: Path):  # noqa: ANN001, ANN202
        request = StageRequest(run_id=run_id, options=EtlOptions(source="synthea-csv", input=str(inp)))
        return etl.run(Context.build(settings, spark), request)

    scratch = Path(args.out or tempfile.mkdtemp(prefix="bench-etl-"))
    settings = load_settings("local", warehouse=str(scratch / "wh-warmup"))
    spark = get_spark(settings)
    # warm-up (JIT, jar loading) on the smallest input, not reported
    warm = scratch / "in-warm"
    scale(SAMPLE, warm, 1)
    run_etl(settings, "bench-warmup", warm)

    rows = []
    for k in sizes:
        inp = scratch / f"in-{k}"
        n_rows = scale(SAMPLE, inp, k)
        s = load_settings("local", warehouse=str(scratch / f"wh-{k}"))
        t0 = time.perf_counter()
        result = run_etl(s, f"bench-{k}", inp)
        etl_s = time.perf_counter() - t0
        obs_rows, duck_s = duckdb_measurements(inp, scratch)
        spark_s = spark_measurements(spark, inp, scratch)
        rows.append((k, 27 * k, n_rows, etl_s, n_rows / etl_s, obs_rows, duck_s, obs_rows / duck_s, spark_s))
        print(f"size {k}: {n_rows} rows, etl {etl_s:.1f}s, duckdb {duck_s:.2f}s, spark sql {spark_s:.2f}s",
              file=sys.stderr, flush=True)

    load = os.getloadavg()
    print(f"Machine: {platform.node()} {os.cpu_count()} CPUs, {platform.python_version()}, "
          f"Spark {spark.version}, load average at end {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}\n")
    print("| copies | patients | source rows | ETL s | ETL rows/s | obs rows | DuckDB meas. s | DuckDB rows/s "
          "| ETL/DuckDB rows/s | Spark SQL meas. s | Spark SQL/DuckDB rows/s | s per 1k rows |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for k, pts, n, es, er, on, ds, dr, ss in rows:
        print(f"| {k} | {pts} | {n} | {es:.1f} | {er:.0f} | {on} | {ds:.2f} | {dr:.0f} | {er / dr:.3f} "
              f"| {ss:.2f} | {ds / ss:.3f} | {1000 * es / n:.2f} |")
    spark.stop()
    if not args.out:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
