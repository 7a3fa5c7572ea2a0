#!/usr/bin/env python
"""Our Synthea -> OMOP ETL next to OHDSI's dbt-synthea (dbt + DuckDB): agreement and throughput.

The peer is dbt-synthea at b948686, vendored unmodified under ``scripts/peer/third_party/dbt_synthea`` (with
its dbt packages, see its NOTICE) and run with the pinned dbt toolchain of ``.venv-peer`` (made by
``scripts/peer/setup.sh``; nothing is installed during a run). Both ETLs read the same Synthea CSV
files and the same vocabulary (``data/vocabulary``, the subset mlhops ships).

The peer runs as its README's "bring your own data" path on DuckDB: ``create_source_tables`` for
the vocabulary and Synthea schemas, the vocabulary subset loaded by ``scripts/peer/load_vocab.py``
(upstream's loader expects Athena's tab-separated files), the Synthea files by upstream's
``load_data_duckdb`` macro (except the two whose Synthea 3.3 columns differ from the 3.0 layout
dbt-synthea supports, loaded by ``scripts/peer/load_synthea33.py``), ``dbt seed --select states``
and ``dbt run``. Every step is timed; its total is the peer's time. Ours is
``mlhops.pipelines.etl.run`` in-process (parse, de-identify, map, all OMOP tables, eras,
quarantine, Delta MERGE) into a fresh warehouse, after an untimed warm-up on the 27-patient
sample (JVM start and JIT; Spark's session start is not counted, dbt's start and parse are).

Modes:
  agreement   one population, both ETLs, then table by table: row counts, persons (year of birth,
              gender), visits per visit_concept_id, condition/drug/measurement/observation/procedure
              counts per concept and share of concept 0, and concept mapping agreement per source
              code. Writes --json (default docs/peer-agreement.json) and prints Markdown.
  throughput  --sizes copies of the population (scripts/synthea_scaler.py: fresh ids, shifted
              dates), both ETLs on the same files in this one invocation; wall seconds, rows/s,
              ours/peer, marginal cost per row between sizes, load average before/after each run.
              --prepare-only writes the scaled inputs and stops (no Spark), so the locked, timed
              run does not include the scaling.

Usage:
  scripts/peer/setup.sh
  .venv/bin/python scripts/bench_peer.py agreement [--population DIR] [--out SCRATCH]
  .venv/bin/python scripts/bench_peer.py throughput --sizes 1,5,9 [--population DIR] --out SCRATCH
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthea_scaler import scale  # noqa: E402 - scripts/ is not a package

PEER_DIR = REPO / "scripts" / "peer" / "third_party" / "dbt_synthea"
PEER_VENV = REPO / ".venv-peer"
VOCAB = REPO / "data" / "vocabulary"
SAMPLE = REPO / "data" / "sample" / "synthea27_csv"
DEFAULT_POPULATION = Path.home() / ".cache" / "mlhops" / "populations" / \
    "synthea-massachusetts-seed11-p800-y8-20261201" / "csv"
# Synthea 3.3 files whose columns differ from the 3.0 layout dbt-synthea supports (own loader).
SHIMMED = {"payer_transitions", "providers"}
PEER_SCHEMA = "cdm"
# The peer gets what our local Spark gets: 2 threads (local[*] on this machine) and 4 GB
# (spark.driver_memory in conf/env/local.yaml); DuckDB spills to disk beyond that.
PEER_THREADS = 2
PEER_MEMORY = "4GB"

# OMOP tables compared by row count (CDM 5.4 clinical, health system and derived tables).
TABLES = ["person", "observation_period", "visit_occurrence", "visit_detail", "condition_occurrence",
          "drug_exposure", "procedure_occurrence", "device_exposure", "measurement", "observation",
          "death", "note", "specimen", "location", "care_site", "provider", "payer_plan_period", "cost",
          "drug_era", "dose_era", "condition_era", "episode", "fact_relationship"]
# Event tables: table -> (concept column, source value column).
EVENTS = {
    "condition_occurrence": ("condition_concept_id", "condition_source_value"),
    "drug_exposure": ("drug_concept_id", "drug_source_value"),
    "measurement": ("measurement_concept_id", "measurement_source_value"),
    "observation": ("observation_concept_id", "observation_source_value"),
    "procedure_occurrence": ("procedure_concept_id", "procedure_source_value"),
    "device_exposure": ("device_concept_id", "device_source_value"),
}


# ----------------------------------------------------------------------------------------- peer
def _peer_env(work: Path) -> dict[str, str]:
    """dbt's environment: profile, target and logs in the scratch folder (nothing written into
    the vendored tree), no telemetry and no version check (no network during a run)."""
    env = dict(os.environ)
    env.update(DBT_PROFILES_DIR=str(work), DBT_TARGET_PATH=str(work / "target"), DBT_LOG_PATH=str(work / "logs"),
               DBT_SEND_ANONYMOUS_USAGE_STATS="false", DBT_PARTIAL_PARSE="false", DBT_VERSION_CHECK="false",
               DO_NOT_TRACK="1")
    return env


def _write_profile(work: Path, db: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    (work / "profiles.yml").write_text(
        "synthea_omop_etl:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {db}\n      schema: {PEER_SCHEMA}\n      threads: {PEER_THREADS}\n"
        f"      settings:\n        threads: {PEER_THREADS}\n        memory_limit: '{PEER_MEMORY}'\n"
        f"        temp_directory: '{work / 'duckdb-tmp'}'\n",
        encoding="utf-8")


def _sh(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> float:
    """Run one peer step; seconds. Output goes to ``log``; a failure shows its tail."""
    t0 = time.perf_counter()
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"\n$ {' '.join(cmd)[:300]}\n")
        fh.flush()
        rc = subprocess.run(cmd, env=env, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, check=False).returncode
    if rc:
        tail = log.read_text(encoding="utf-8").splitlines()[-25:]
        raise RuntimeError(f"peer step failed (rc {rc}): {cmd[:3]}\n" + "\n".join(tail))
    return time.perf_counter() - t0


def run_peer(inp: Path, work: Path) -> tuple[Path, dict[str, float]]:
    """dbt-synthea on the CSV folder ``inp`` into a fresh DuckDB file: (file, seconds per step)."""
    if not (PEER_VENV / "bin" / "dbt").exists():
        raise SystemExit("no .venv-peer: run scripts/peer/setup.sh first")
    shutil.rmtree(work, ignore_errors=True)
    db = work / "peer.duckdb"
    _write_profile(work, db)
    env, log = _peer_env(work), work / "peer.log"
    dbt = [str(PEER_VENV / "bin" / "dbt")]
    py = str(PEER_VENV / "bin" / "python")
    no_seeds = ["--vars", "{seed_source: false}"]
    files = {p.stem: str(p) for p in sorted(inp.glob("*.csv")) if p.stem not in SHIMMED}
    steps: dict[str, float] = {}
    steps["create_source_tables"] = (
        _sh(dbt + ["run-operation", "create_source_tables", "--args", "{vocab_tables: true}"] + no_seeds,
            env, PEER_DIR, log)
        + _sh(dbt + ["run-operation", "create_source_tables", "--args", "{vocab_tables: false}"] + no_seeds,
              env, PEER_DIR, log))
    steps["load_vocabulary"] = _sh([py, str(REPO / "scripts/peer/load_vocab.py"), str(db), f"{PEER_SCHEMA}_vocab",
                                    str(VOCAB), str(PEER_DIR / "seeds/stcm/source_to_concept_map_seed.csv")],
                                   env, REPO, log)
    steps["load_synthea"] = (
        _sh(dbt + ["run-operation", "load_data_duckdb", "--args",
                   json.dumps({"file_dict": files, "vocab_tables": False})] + no_seeds, env, PEER_DIR, log)
        + _sh([py, str(REPO / "scripts/peer/load_synthea33.py"), str(db), f"{PEER_SCHEMA}_synthea", str(inp)],
              env, REPO, log))
    steps["seed_states"] = _sh(dbt + ["seed", "--select", "states"] + no_seeds, env, PEER_DIR, log)
    steps["dbt_run"] = _sh(dbt + ["run"] + no_seeds, env, PEER_DIR, log)
    return db, steps


class PeerTables:
    """SQL over the peer's OMOP tables (read-only DuckDB)."""

    def __init__(self, db: Path) -> None:
        import duckdb

        self.con = duckdb.connect(str(db), read_only=True)
        self.names = {r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [PEER_SCHEMA]).fetchall()}

    def has(self, table: str) -> bool:
        return table in self.names

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql.replace("{s}", PEER_SCHEMA + ".")).fetchall()


# ----------------------------------------------------------------------------------------- ours
class OurTables:
    """SQL over our OMOP Delta tables (Spark temp views)."""

    def __init__(self, spark: Any, warehouse: Path) -> None:  # noqa: ANN401 - SparkSession
        self.spark = spark
        self.names = set()
        omop = warehouse / "omop"
        for t in sorted(p.name for p in omop.iterdir() if (p / "_delta_log").exists()):
            spark.read.format("delta").load(str(omop / t)).createOrReplaceTempView(f"ours_{t}")
            self.names.add(t)

    def has(self, table: str) -> bool:
        return table in self.names

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        import re

        return [tuple(r) for r in self.spark.sql(re.sub(r"\{s\}(\w+)", r"ours_\1", sql)).collect()]


def run_ours(spark: Any, warehouse: Path, inp: Path, run_id: str) -> float:  # noqa: ANN401
    """Our full ETL on ``inp`` into a fresh warehouse; seconds."""
    from mlhops.config import load_settings
    from mlhops.pipelines import etl
    from mlhops.pipelines.context import Context
    from mlhops.pipelines.options import EtlOptions
    from mlhops.pipelines.stage import StageRequest

    shutil.rmtree(warehouse, ignore_errors=True)
    settings = load_settings("local", warehouse=str(warehouse))
    t0 = time.perf_counter()
    request = StageRequest(run_id=run_id, options=EtlOptions(source="synthea-csv", input=str(inp)))
    result = etl.run(Context.build(settings, spark), request)
    seconds = time.perf_counter() - t0
    status = getattr(result, "status", "ok")
    if status not in ("ok", "alerts"):
        raise RuntimeError(f"our ETL ended {status} on {inp.name}")
    return seconds


def start_spark(scratch: Path) -> Any:  # noqa: ANN401 - SparkSession
    from mlhops.config import load_settings
    from mlhops.spark import get_spark

    return get_spark(load_settings("local", warehouse=str(scratch / "wh-warmup")))


def warm_up(spark: Any, scratch: Path) -> None:  # noqa: ANN401
    """Untimed ETL on the 27-patient sample: JVM class loading and JIT before any timed run."""
    run_ours(spark, scratch / "wh-warmup", SAMPLE, "peer-warmup")


# ------------------------------------------------------------------------------------ agreement
def _dist(rows: Iterable[tuple[Any, ...]]) -> dict[str, int]:
    return {str(k): int(n) for k, n in rows}


def tv_distance(a: dict[str, int], b: dict[str, int]) -> float:
    """Total variation distance between two count distributions (0 = same shares, 1 = disjoint)."""
    na, nb = sum(a.values()) or 1, sum(b.values()) or 1
    return 0.5 * sum(abs(a.get(k, 0) / na - b.get(k, 0) / nb) for k in set(a) | set(b))


def side_figures(t: OurTables | PeerTables) -> dict[str, Any]:
    """The aggregates compared, computed the same way on either side."""
    out: dict[str, Any] = {"rows": {}}
    for table in TABLES:
        out["rows"][table] = t.rows(f"SELECT count(*) FROM {{s}}{table}")[0][0] if t.has(table) else None
    out["person_gender"] = _dist(t.rows("SELECT gender_concept_id, count(*) FROM {s}person GROUP BY 1"))
    # By decade: single years leave cells of one person, which an aggregate report must not show.
    out["person_decade_of_birth"] = _dist(t.rows(
        "SELECT CAST(FLOOR(year_of_birth / 10) * 10 AS INT), count(*) FROM {s}person GROUP BY 1"))
    out["person_race"] = _dist(t.rows("SELECT race_concept_id, count(*) FROM {s}person GROUP BY 1"))
    out["visit_concept"] = _dist(t.rows("SELECT visit_concept_id, count(*) FROM {s}visit_occurrence GROUP BY 1"))
    out["events"] = {}
    for table, (concept, source) in EVENTS.items():
        if not t.has(table):
            continue
        by_code = t.rows(f"SELECT {source}, {concept}, count(*) FROM {{s}}{table} GROUP BY 1, 2")
        out["events"][table] = {
            "rows": sum(int(n) for _, _, n in by_code),
            "concept_0_rows": sum(int(n) for _, c, n in by_code if not c),
            "per_concept": _dist(t.rows(f"SELECT {concept}, count(*) FROM {{s}}{table} GROUP BY 1")),
            "by_code": [(str(s), int(c or 0), int(n)) for s, c, n in by_code],
        }
    return out


def mapping_agreement(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    """Per source code (all event tables together): does each ETL give it the same concept, and
    put it in the same table? A code's concept/table on one side is the one most of its rows got."""
    def modal(side: dict[str, Any]) -> dict[str, tuple[int, str, int]]:
        best: dict[str, tuple[int, str, int]] = {}
        rows: dict[str, int] = {}
        for table, ev in side["events"].items():
            for code, concept, n in ev["by_code"]:
                rows[code] = rows.get(code, 0) + n
                if code not in best or n > best[code][2]:
                    best[code] = (concept, table, n)
        return {c: (v[0], v[1], rows[c]) for c, v in best.items()}

    a, b = modal(ours), modal(peer)
    both = sorted(set(a) & set(b))
    same = [c for c in both if a[c][0] == b[c][0]]
    same_table = [c for c in both if a[c][1] == b[c][1]]
    mapped_a = [c for c in both if a[c][0]]
    mapped_b = [c for c in both if b[c][0]]
    differ = [c for c in both if a[c][0] != b[c][0]]
    return {
        "codes_ours": len(a), "codes_peer": len(b), "codes_both": len(both),
        "codes_only_ours": sorted(set(a) - set(b)), "codes_only_peer": sorted(set(b) - set(a)),
        "same_concept": len(same), "same_concept_share": len(same) / len(both) if both else None,
        "same_concept_row_share": (sum(a[c][2] for c in same) / sum(a[c][2] for c in both)) if both else None,
        "same_table": len(same_table),
        "mapped_ours": len(mapped_a), "mapped_peer": len(mapped_b),
        "mapped_both_same": len([c for c in same if a[c][0]]),
        # Source codes are vocabulary codes (SNOMED/LOINC/RxNorm/CVX), not patient data.
        "differences": [{"code": c, "ours": list(a[c]), "peer": list(b[c])} for c in differ],
    }


def compare(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    """The comparison figures (JSON-ready)."""
    events = {}
    for table in EVENTS:
        o, p = ours["events"].get(table), peer["events"].get(table)
        if o is None or p is None:
            continue
        events[table] = {
            "rows_ours": o["rows"], "rows_peer": p["rows"],
            "concept_0_share_ours": o["concept_0_rows"] / o["rows"] if o["rows"] else None,
            "concept_0_share_peer": p["concept_0_rows"] / p["rows"] if p["rows"] else None,
            "concepts_ours": len(o["per_concept"]), "concepts_peer": len(p["per_concept"]),
            "per_concept_tv_distance": tv_distance(o["per_concept"], p["per_concept"]),
            "per_concept_same_count": sum(1 for k in set(o["per_concept"]) & set(p["per_concept"])
                                          if o["per_concept"][k] == p["per_concept"][k]),
            "per_concept_ours": o["per_concept"], "per_concept_peer": p["per_concept"],
        }
    return {
        "rows": {t: {"ours": ours["rows"][t], "peer": peer["rows"][t]} for t in TABLES},
        "person": {
            k: {"ours": ours[k], "peer": peer[k], "tv_distance": tv_distance(ours[k], peer[k])}
            for k in ("person_gender", "person_decade_of_birth", "person_race")
        },
        "visit_concept": {"ours": ours["visit_concept"], "peer": peer["visit_concept"],
                          "tv_distance": tv_distance(ours["visit_concept"], peer["visit_concept"])},
        "events": events,
        "mapping": mapping_agreement(ours, peer),
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def markdown(c: dict[str, Any]) -> str:
    """The agreement as Markdown tables."""
    out = ["| OMOP table | ours | dbt-synthea | ours/peer |", "|---|---|---|---|"]
    for t, v in c["rows"].items():
        o, p = v["ours"], v["peer"]
        if not o and not p:
            continue
        ratio = f"{o / p:.3f}" if o is not None and p else "-"
        out.append(f"| {t} | {'-' if o is None else f'{o:,}'} | {'-' if p is None else f'{p:,}'} | {ratio} |")
    out += ["", "| distribution | TV distance (0 = same shares) |", "|---|---|"]
    for k, v in c["person"].items():
        out.append(f"| {k} | {v['tv_distance']:.4f} |")
    out.append(f"| visit_occurrence per visit_concept_id | {c['visit_concept']['tv_distance']:.4f} |")
    out += ["", "| event table | rows ours | rows peer | concept 0 ours | concept 0 peer | concepts ours "
            "| concepts peer | per-concept TV distance | concepts with equal counts |", "|---|---|---|---|---|---|---|---|---|"]
    for t, e in c["events"].items():
        out.append(f"| {t} | {e['rows_ours']:,} | {e['rows_peer']:,} | {_pct(e['concept_0_share_ours'])} "
                   f"| {_pct(e['concept_0_share_peer'])} | {e['concepts_ours']} | {e['concepts_peer']} "
                   f"| {e['per_concept_tv_distance']:.4f} | {e['per_concept_same_count']} |")
    m = c["mapping"]
    out += ["", f"Source codes: {m['codes_ours']} ours, {m['codes_peer']} peer, {m['codes_both']} in both; "
            f"same concept for {m['same_concept']} ({_pct(m['same_concept_share'])}; "
            f"{_pct(m['same_concept_row_share'])} of our rows); same table for {m['same_table']}; "
            f"mapped (concept != 0) ours {m['mapped_ours']}, peer {m['mapped_peer']}, "
            f"both to the same concept {m['mapped_both_same']}."]
    return "\n".join(out)


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def agreement(args: argparse.Namespace) -> int:
    scratch = Path(args.out or tempfile.mkdtemp(prefix="bench-peer-"))
    scratch.mkdir(parents=True, exist_ok=True)
    inp = Path(args.population)
    spark = start_spark(scratch)
    load0 = _load()
    ours_s = run_ours(spark, scratch / "wh-ours", inp, "peer-agreement")
    load1 = _load()
    db, steps = run_peer(inp, scratch / "peer")
    load2 = _load()
    ours = side_figures(OurTables(spark, scratch / "wh-ours"))
    peer = side_figures(PeerTables(db))
    result = {"population": inp.parent.name, "source_rows": _source_rows(inp),
              "vocabulary": str(VOCAB.relative_to(REPO)), "peer": "OHDSI/dbt-synthea b948686",
              "seconds": {"ours": round(ours_s, 1), "peer": {k: round(v, 1) for k, v in steps.items()}},
              "load_average": {"before_ours": load0, "after_ours": load1, "after_peer": load2},
              **compare(ours, peer)}
    Path(args.json).write_text(json.dumps(result, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(markdown(result))
    print(f"\nwrote {args.json}", file=sys.stderr)
    spark.stop()
    if not args.out:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


# ----------------------------------------------------------------------------------- throughput
def _source_rows(inp: Path) -> int:
    """Data rows of all CSV files (headers not counted; Synthea writes no embedded newlines)."""
    n = 0
    for p in inp.glob("*.csv"):
        with open(p, "rb") as fh:
            n += sum(buf.count(b"\n") for buf in iter(lambda: fh.read(1 << 24), b"")) - 1
    return n


def prepare(population: Path, scratch: Path, sizes: list[int]) -> dict[int, int]:
    """Scaled inputs ``scratch/in-<k>`` (reused when already complete): rows per size."""
    rows = {}
    for k in sizes:
        # The marker lives beside the folder: a file inside would be an extra input to both ETLs.
        inp, done = scratch / f"in-{k}", scratch / f"in-{k}.rows"
        if not done.exists():
            shutil.rmtree(inp, ignore_errors=True)
            if k == 1:
                inp.mkdir(parents=True)
                for f in population.glob("*.csv"):
                    shutil.copy(f, inp / f.name)
                n = _source_rows(inp)
            else:
                n = scale(population, inp, k)
            done.write_text(str(n), encoding="utf-8")
            print(f"prepared {k} copies: {n:,} rows", file=sys.stderr, flush=True)
        rows[k] = int(done.read_text(encoding="utf-8"))
    return rows


def throughput(args: argparse.Namespace) -> int:
    sizes = [int(s) for s in args.sizes.split(",")]
    scratch = Path(args.out)
    scratch.mkdir(parents=True, exist_ok=True)
    rows = prepare(Path(args.population), scratch, sizes)
    if args.prepare_only:
        return 0
    spark = start_spark(scratch)
    warm_up(spark, scratch)
    results: list[dict[str, Any]] = []
    for k in sizes:
        inp = scratch / f"in-{k}"
        rec: dict[str, Any] = {"copies": k, "source_rows": rows[k], "load_before_ours": _load()}
        rec["ours_s"] = run_ours(spark, scratch / "wh-ours", inp, f"peer-bench-{k}")
        rec["load_after_ours"] = _load()
        _, steps = run_peer(inp, scratch / "peer")
        rec["peer_s"] = sum(steps.values())
        rec["peer_steps"] = {s: round(v, 1) for s, v in steps.items()}
        rec["load_after_peer"] = _load()
        results.append(rec)
        print(json.dumps(rec), file=sys.stderr, flush=True)
        if args.json:  # after every size, so a stopped run keeps what it measured
            Path(args.json).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        shutil.rmtree(scratch / "wh-ours", ignore_errors=True)
        shutil.rmtree(scratch / "peer", ignore_errors=True)
    spark.stop()
    print(f"Machine: {platform.node()}, {os.cpu_count()} CPUs, {platform.python_version()}; "
          f"peer DuckDB {PEER_THREADS} threads / {PEER_MEMORY}\n")
    print(throughput_markdown(results))
    return 0


def throughput_markdown(results: list[dict[str, Any]]) -> str:
    out = ["| copies | source rows | ours s | ours rows/s | peer s | peer rows/s | ours/peer rows/s "
           "| ours marginal us/row | peer marginal us/row | peer dbt run s | load before/after ours | load after peer |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    prev: dict[str, Any] | None = None
    for r in results:
        n, o, p = r["source_rows"], r["ours_s"], r["peer_s"]
        mo = mp = "-"
        if prev:
            dn = n - prev["source_rows"]
            mo = f"{1e6 * (o - prev['ours_s']) / dn:.1f}"
            mp = f"{1e6 * (p - prev['peer_s']) / dn:.1f}"
        out.append(f"| {r['copies']} | {n:,} | {o:.1f} | {n / o:,.0f} | {p:.1f} | {n / p:,.0f} | {p / o:.2f} "
                   f"| {mo} | {mp} | {r['peer_steps']['dbt_run']:.1f} | {r['load_before_ours'][0]:.1f}/"
                   f"{r['load_after_ours'][0]:.1f} | {r['load_after_peer'][0]:.1f} |")
        prev = r
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    a = sub.add_parser("agreement")
    a.add_argument("--population", default=str(DEFAULT_POPULATION), help="Synthea CSV folder")
    a.add_argument("--out", default=None, help="scratch folder (default: a temp dir, removed)")
    a.add_argument("--json", default=str(REPO / "docs" / "peer-agreement.json"))
    t = sub.add_parser("throughput")
    t.add_argument("--population", default=str(DEFAULT_POPULATION), help="Synthea CSV folder")
    t.add_argument("--sizes", default="1,5,9", help="copies of the population, comma-separated")
    t.add_argument("--out", required=True, help="scratch folder (scaled inputs are kept there for reuse)")
    t.add_argument("--prepare-only", action="store_true", help="write the scaled inputs and stop")
    t.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    modes: dict[str, Callable[[argparse.Namespace], int]] = {"agreement": agreement, "throughput": throughput}
    return modes[args.mode](args)


if __name__ == "__main__":
    raise SystemExit(main())
