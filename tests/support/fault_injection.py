"""Fault injection: kill a stage run (SIGKILL of its whole process group: the Python driver, the
Spark JVM and its Python workers), re-run the stage, and check the warehouse against a run that
was never interrupted.

Used by ``scripts/fault_injection.py`` (random kill points, the figures in docs/security.md) and
by ``tests/spark/pipelines/test_fault_injection.py`` (a few fixed kill points).

Each stage starts from a *prepared* warehouse (a copy of a folder holding the Delta tables and the
MLflow store under ``<warehouse>/mlflow``), runs through the real CLI (``python -m mlhops.cli``)
in a process group of its own, and is killed ``delay`` seconds after its ``<stage>: started`` log
line (or when a given log line appears). A trial then re-runs the stage to completion and compares
every Delta table with the uninterrupted run's (:func:`compare_warehouses`) and the MLflow
registry's aliases (:func:`registry_state`).
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SAMPLE_INPUT = REPO / "data" / "sample" / "synthea27_csv"
# After SIGKILL the group's processes are gone within this long (the JVM takes longest).
GROUP_EXIT_S = 30.0
POLL_S = 0.05

# Columns whose values legitimately depend on the run (who ran, when, how long), ignored when a
# trial's table is compared with the uninterrupted run's. Every other column must match.
RUN_DEPENDENT: dict[str, dict[str, str]] = {
    "mlhops.runs": {
        "run_id": "each invocation has its own run id (killed run, re-run and baseline differ)",
        "started_at": "wall clock",
        "ended_at": "wall clock",
        "duration_s": "wall clock",
        "tables": "Delta versions written: commits of the killed run move them on",
        "mlflow_run_id": "a new MLflow run per invocation",
        "message": "what this invocation did (new alerts, ids assigned): a re-run after a killed run that "
                   "committed part of the work rightly does less",
        "metrics": "the same counts of this invocation's own work, and its timings",
        "details_json": "the same (e.g. the ids of the alerts this invocation raised)",
    },
    "mlhops.id_map": {"run_id": "the run that first assigned the id: the killed run when its id map commit landed"},
    "mlhops.quarantine": {"run_id": "the run that quarantined the line (killed run or re-run)",
                          "recorded_at": "wall clock"},
    "mlhops.warehouse_identity": {"recorded_at": "wall clock of the first ETL (killed run or re-run)"},
    "mlhops.multivariate_drift": {"run_id": "the run that scored the window", "duration_s": "wall clock"},
    "mlhops.model_events": {"event_id": "'<run id>:<action>' of the run that recorded the change",
                            "event_time": "wall clock"},
    "mlhops.approvals": {"approval_id": "'<run id>:<action>'", "approved_at": "wall clock",
                         "run_id": "the run that recorded the approval"},
    "mlhops.alerts": {"first_run_id": "the run that first raised the alert", "raised_at": "wall clock",
                      "delivered_at": "wall clock of the webhook delivery"},
    "mlhops.promotion_decisions": {"run_id": "the run that decided", "decided_at": "wall clock"},
    "mlhops.inference_log": {"scored_at": "wall clock"},
    "mlhops.detector_references": {"recorded_at": "wall clock of the drift stage that fitted the detectors"},
    "mlhops.model_privacy": {"computed_at": "wall clock of the training run"},
    # The KLL quantile sketch compacts at random and merges in task-completion order: two
    # uninterrupted runs differ within its rank error (stats.kll_k 200: ~1.65%), and so do the
    # quantiles and the counts in bins whose edges come from those quantiles.
    "mlhops.profile_states": {"kll": "KLL sketch bytes (randomised compaction, merge order)",
                              "hll": "HLL sketch bytes (their serialised form follows the update order: partitioning)"},
    "mlhops.profile_metrics": {"quantiles": "read from the KLL sketch",
                               "hist_counts": "bins bounded by KLL quantiles",
                               "hist_edges": "the baseline's KLL quantiles"},
    "mlhops.profile_bins": {"edges": "the baseline's KLL quantiles (a forced stats run recomputes them)"},
    # Numeric features' tests read both windows' KLL quantiles, and the multiple-testing
    # adjustment (and so the flag) spans a window's features: the keys, sample sizes, threshold
    # and status must still match.
    "mlhops.drift_metrics": {c: "from KLL quantiles (numeric features) or adjusted across them"
                             for c in ("statistic", "p_value", "p_value_adjusted", "effect_size", "drift", "extra")},
}
# Doubles are compared to this many decimals (aggregation order may move the last bits).
DOUBLE_DECIMALS = 9


@dataclass(frozen=True)
class StageCall:
    """A stage invocation of the fault-injection plan.

    Attributes:
        label: the trial kind (``stats-force`` for ``stats --force``).
        stage: the stage name in the run's log lines.
        argv: the CLI verb and its arguments.
        state: the prepared warehouse it starts from.
    """

    label: str
    stage: str
    argv: tuple[str, ...]
    state: str


CALLS: dict[str, StageCall] = {c.label: c for c in (
    StageCall("etl", "etl", ("etl", "--source", "synthea-csv", "--input", str(SAMPLE_INPUT)), "empty"),
    StageCall("stats", "stats", ("stats",), "features"),
    StageCall("stats-force", "stats", ("stats", "--force"), "stats"),
    StageCall("promote", "promote", ("promote", "--reason", "fault injection"), "trained"),
    StageCall("alerts", "alerts", ("alerts",), "trained"),
)}

# How each prepared state is made from the one before it (CLI argv lists, run in order).
PREPARATION: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = (
    ("empty", ()),
    ("etl", (CALLS["etl"].argv,)),  # also an uninterrupted run of the etl call
    ("features", (("nightly", "--only", "quality", "--only", "features"),)),
    ("stats", (("stats",),)),
    ("trained", (("train",), ("train", "--force"))),
)


# The sample has 11 inpatient stays, too few to train the reference task: the harness's model
# predicts a revisit within 30 days of any visit (outpatient, ER, inpatient), which it has plenty of.
REVISIT_TASK = """\
name: fi_revisit_30d
registered_model: mlhops_fi_revisit_30d
description: any visit within 30 days of a visit (fault-injection harness only)
label:
  kind: readmission
  index_visit_concept_ids: [9201, 9202, 9203, 262]
  outcome_visit_concept_ids: [9201, 9202, 9203, 262]
  horizon_days: 30
exclude_features: []
algorithm: logistic_regression
validation_fraction: 0.3
split_seed: 17
threshold: null
target_sensitivity: 0.7
max_training_rows: 500000
"""


# Rules that fire on the sample (monthly drift of its 27 patients against 2000-2020, one flagged
# window enough), so that the alerts stage has rows to write when it is killed.
ALERT_RULES = """\
rules:
  - id: etl-quarantine-rate
    kind: quarantine
    severity: high
    max_fraction: 0.0
    runbook: etl-quarantine.md#quarantine-rate
    description: A source table's rows could not all be loaded.
  - id: quality-check-failed
    kind: quality
    severity: medium
    runbook: quality.md#quality-check-failed
    description: A data-quality check exceeded its threshold in a window.
  - id: feature-drift
    kind: drift
    severity: medium
    consecutive_windows: 1
    min_effect: 0.1
    runbook: drift.md#univariate-drift
    description: Significant drift with effect size >= 0.1 in a window.
"""


def overlay(path: Path, extra: dict[str, Any] | None = None) -> Path:
    """Write the harness's configuration overlay: the ``local`` environment, monthly statistics
    without slices (a small, quick stats stage that still makes every commit) tested from 5 rows,
    the revisit task (:data:`REVISIT_TASK`, beside the overlay in ``models/``), the alert rules
    of :data:`ALERT_RULES`, plus ``extra``."""
    import yaml

    from mlhops.config.loader import deep_merge

    tasks = path.parent / "models"
    tasks.mkdir(exist_ok=True)
    (tasks / "fi_revisit_30d.yaml").write_text(REVISIT_TASK)
    rules = path.parent / "fi-alerts.yaml"
    rules.write_text(ALERT_RULES)
    local = yaml.safe_load((REPO / "conf" / "env" / "local.yaml").read_text())
    mine = {
        "models": {"task": "fi_revisit_30d", "tasks_dir": str(tasks)},
        "stats": {"granularities": ["month"], "sliding_days": [], "cumulative": False, "slices": [],
                  "drift": {"granularities": ["month"], "min_samples": 5}},
        "alerts": {"rules_file": str(rules)},
        "spark": {"conf": {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2",
                           "spark.ui.enabled": "false"}},
    }
    path.write_text(yaml.safe_dump(deep_merge(deep_merge(local, mine), extra or {})))
    return path


def cli_env() -> dict[str, str]:
    """The CLI's environment: MLflow under the warehouse, no webhook, this interpreter for workers."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI",
                                                             "MLHOPS_ALERT_WEBHOOK", "MLHOPS_WAREHOUSE")}
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYTHONPATH"] = str(REPO / "lib") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def cli_command(argv: Sequence[str], warehouse: Path, conf: Path, run_id: str, log_file: Path) -> list[str]:
    """The real CLI on ``warehouse`` with its logs in ``log_file``."""
    return [sys.executable, "-m", "mlhops.cli", *argv, "--warehouse", str(warehouse), "--conf", str(conf),
            "--run-id", run_id, "--log-file", str(log_file)]


@dataclass
class Invocation:
    """One CLI process: its exit code (None when killed), times and where it was when killed."""

    rc: int | None
    wall_s: float
    stage_s: float | None = None  # from the "<stage>: started" line to the stage's outcome line
    killed_after_s: float | None = None  # after the "started" line
    last_step: str = ""


# The CLI's log format, and the one MLflow's store migrations (alembic) switch logging to on
# stderr when they create a store: the harness reads the log file and the captured output.
_LOG_LINES = (
    re.compile(r"^\S+ \S+ (?P<level>[A-Z]+) (?:\[[^\]]*\] )?(?P<name>[\w.]+): (?P<msg>.*)$"),
    re.compile(r"^\S+ \S+ (?P<level>[A-Z]+)\s+\[(?P<name>[\w.]+)\] (?P<msg>.*)$"),
)


def _step_line(line: str) -> str | None:
    """``LEVEL logger: message`` of an mlhops log line (messages carry no patient values), else None."""
    for pattern in _LOG_LINES:
        m = pattern.match(line)
        if m is not None and m["name"].startswith("mlhops"):
            return f"{m['level']} {m['name']}: {m['msg'][:200]}"
    return None


# The outcome the CLI prints for a stage with --log-file (stdout): "ok   12.3s  message".
_OUTCOME = re.compile(r"(?:^|\.\.\.)\s*(?:ok|alerts|skipped|failed)\s+(?P<seconds>\d+\.\d)s(?:\s|$)")


class _Tail:
    """New complete lines of a growing file."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.partial = path, 0, ""

    def lines(self) -> list[str]:
        if not self.path.exists():
            return []
        with self.path.open("r", encoding="utf-8", errors="replace") as fh:
            fh.seek(self.offset)
            chunk = fh.read()
            self.offset = fh.tell()
        lines = (self.partial + chunk).split("\n")
        self.partial = lines.pop()
        return lines


def _wait_group_gone(pgid: int) -> None:
    deadline = time.monotonic() + GROUP_EXIT_S
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(POLL_S)
    raise RuntimeError(f"process group {pgid} still alive {GROUP_EXIT_S:.0f} s after SIGKILL")


def invoke(cmd: list[str], log_file: Path, stage: str, *, kill_after_s: float | None = None,
           kill_on: str | None = None, kill_when: Callable[[], bool] | None = None,
           timeout_s: float = 900.0) -> Invocation:
    """Run ``cmd`` in its own process group; SIGKILL the group ``kill_after_s`` after the stage's
    "started" log line, when a log line after it matches ``kill_on`` (a regular expression), or
    when ``kill_when()`` (polled every 50 ms after it) turns true.

    The stage's duration is the one the CLI prints with its outcome (``ok 12.3s``).

    Raises:
        RuntimeError: the run outlived ``timeout_s`` (its group is killed) or its group survived SIGKILL.
    """
    started_re = re.compile(rf"\] {re.escape(stage)}: started")
    kill_re = re.compile(kill_on) if kill_on else None
    out = log_file.with_suffix(".out")
    t0 = time.monotonic()
    with out.open("wb") as sink:
        proc = subprocess.Popen(cmd, cwd=REPO, env=cli_env(), stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)
    pgid = proc.pid
    tails = (_Tail(log_file), _Tail(out))
    t_start: float | None = None
    t_end: float | None = None
    last = ""
    killed_at: float | None = None
    try:
        while True:
            done = proc.poll() is not None
            for tail in tails:
                for line in tail.lines():
                    if killed_at is not None:
                        break
                    now = time.monotonic()
                    if t_start is None and started_re.search(line):
                        t_start = now
                    ended = _OUTCOME.search(line)
                    if t_end is None and ended and t_start is not None:
                        t_end = t_start + float(ended["seconds"])
                    step = _step_line(line)
                    if step is not None:
                        last = step
                    if kill_re is not None and t_start is not None and kill_re.search(line):
                        killed_at = now
                        break
            if killed_at is None and t_start is not None and (
                    (kill_after_s is not None and time.monotonic() - t_start >= kill_after_s)
                    or (kill_when is not None and kill_when())):
                killed_at = time.monotonic()
            if killed_at is not None and not done:
                os.killpg(pgid, signal.SIGKILL)
                proc.wait()
                _wait_group_gone(pgid)
                return Invocation(None, time.monotonic() - t0, None, killed_at - (t_start or t0), last)
            if done:
                break
            if time.monotonic() - t0 > timeout_s:
                os.killpg(pgid, signal.SIGKILL)
                raise RuntimeError(f"{' '.join(cmd[2:4])} ran past {timeout_s:.0f} s (log {log_file})")
            time.sleep(POLL_S)
    except BaseException:
        if proc.poll() is None:
            os.killpg(pgid, signal.SIGKILL)
        raise
    wall = time.monotonic() - t0
    stage_s = (t_end - t_start) if t_start is not None and t_end is not None else None
    return Invocation(proc.returncode, wall, stage_s, None, last)


def copy_state(src: Path, dst: Path) -> Path:
    """A fresh copy of a prepared warehouse folder (tables and MLflow store)."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return dst


# Runs a CLI argv on a warehouse with a run id; returns the exit code.
Runner = Callable[[Sequence[str], Path, str], int]


def prepare(root: Path, run: Runner, seconds: dict[str, float] | None = None) -> dict[str, Path]:
    """Make the prepared warehouses under ``root`` (see :data:`PREPARATION`) with ``run(argv,
    warehouse, run_id)``; returns their folders by name (and each state's run time in ``seconds``)."""
    states: dict[str, Path] = {}
    work = root / "work"
    work.mkdir(parents=True, exist_ok=True)
    for name, steps in PREPARATION:
        t0 = time.monotonic()
        for i, argv in enumerate(steps):
            rc = run(argv, work, f"prep-{name}-{i}")
            if rc not in (0, 3):
                raise RuntimeError(f"preparing {name}: {' '.join(argv)} exited {rc}")
        if seconds is not None:
            seconds[name] = time.monotonic() - t0
        states[name] = copy_state(work, root / f"state-{name}")
    # ``work`` stays: the registry's model versions point at its MLflow artifacts
    return states


def subprocess_runner(conf: Path, logs: Path) -> Runner:
    """A :data:`Runner` through the real CLI in a subprocess, its log in ``logs/<run id>.log``."""
    def run(argv: Sequence[str], warehouse: Path, run_id: str) -> int:
        log = logs / f"{run_id}.log"
        rc = invoke(cli_command(argv, warehouse, conf, run_id, log), log, argv[0]).rc
        return -1 if rc is None else rc
    return run


def in_process_runner(conf: Path, logs: Path | None = None) -> Runner:
    """A :data:`Runner` through the CLI's ``main`` in this process (its Spark session is reused),
    logging to ``logs/<run id>.log`` when ``logs`` is given."""
    def run(argv: Sequence[str], warehouse: Path, run_id: str) -> int:
        from mlhops.cli import main

        log = ["--log-file", str(logs / f"{run_id}.log")] if logs is not None else []
        saved = {k: os.environ.pop(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI") if k in os.environ}
        try:
            rc = main([*argv, "--warehouse", str(warehouse), "--conf", str(conf), "--run-id", run_id, *log])
        finally:
            os.environ.update(saved)
        return rc
    return run


# --- comparison ---


def delta_tables(warehouse: Path) -> dict[str, Path]:
    """Delta tables under a warehouse by ``schema.table`` name."""
    return {f"{p.parent.name}.{p.name}": p for p in sorted(warehouse.glob("*/*")) if (p / "_delta_log").is_dir()}


def _commits(table: Path) -> tuple[str, ...]:
    return tuple(sorted(p.name for p in (table / "_delta_log").iterdir() if p.name.endswith(".json")))


@dataclass
class TableDiff:
    """How a trial's table differs from the uninterrupted run's (counts and column names only)."""

    table: str
    problem: str
    rows_trial: int | None = None
    rows_baseline: int | None = None
    only_trial: int = 0
    only_baseline: int = 0
    duplicate_keys: int = 0
    columns: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        cols = f"; columns {', '.join(self.columns)}" if self.columns else ""
        return (f"{self.table}: {self.problem} (rows {self.rows_trial} vs {self.rows_baseline}, "
                f"{self.only_trial} only after the re-run, {self.only_baseline} only in the baseline, "
                f"{self.duplicate_keys} duplicated keys{cols})")


def _one_outcome(df: Any, killed_run: str | None, rerun: str | None) -> Any:
    """``mlhops.runs`` with one outcome row for the interrupted stage: the killed run's when it
    recorded a success before it died (its re-run is then rightly skipped), else the re-run's."""
    from pyspark.sql import functions as F

    if killed_run is None or rerun is None:
        return df
    finished = df.where((F.col("run_id") == killed_run) & F.col("status").isin("ok", "alerts")).limit(1).count()
    return df.where(F.col("run_id") != (rerun if finished else killed_run))


def _raw(spark: Any, path: Path, table: str, killed_run: str | None = None, rerun: str | None = None) -> Any:
    """The table as stored (``mlhops.runs``: one outcome row for the interrupted stage)."""
    df = spark.read.format("delta").load(str(path))
    return _one_outcome(df, killed_run, rerun) if table == "mlhops.runs" else df


def _normalised(spark: Any, path: Path, table: str, killed_run: str | None = None, rerun: str | None = None) -> Any:
    """The table without its run-dependent columns, maps sorted, doubles rounded."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    df = _raw(spark, path, table, killed_run, rerun)
    ignored = RUN_DEPENDENT.get(table, {})
    missing = set(ignored) - set(df.columns)
    if missing:
        raise ValueError(f"{table}: RUN_DEPENDENT names columns it does not have: {sorted(missing)}")
    cols = []
    for f in df.schema.fields:
        if f.name in ignored:
            continue
        c = F.col(f"`{f.name}`")
        if isinstance(f.dataType, T.MapType):
            c = F.map_from_entries(F.array_sort(F.map_entries(c)))
        elif isinstance(f.dataType, (T.DoubleType, T.FloatType)):
            c = F.round(c, DOUBLE_DECIMALS)
        cols.append(c.alias(f.name))
    return df.select(*cols)


def _rows(df: Any) -> collections.Counter[str]:
    from pyspark.sql import functions as F

    return collections.Counter(r[0] for r in df.select(F.to_json(F.struct(*df.columns))).collect())


def _columns_differing(spark: Any, a: Any, b: Any) -> list[str]:
    """Columns whose multisets of values differ between two frames (names only)."""
    from pyspark.sql import functions as F

    out = []
    for c in a.columns:
        left = a.select(F.to_json(F.struct(F.col(f"`{c}`"))).alias("v")).groupBy("v").count()
        right = b.select(F.to_json(F.struct(F.col(f"`{c}`"))).alias("v")).groupBy("v").count()
        if left.exceptAll(right).limit(1).count() or right.exceptAll(left).limit(1).count():
            out.append(c)
    return out


def _duplicate_keys(df: Any, table: str) -> int:
    from mlhops.io.tables import all_tables

    spec = all_tables().get(table)
    keys = [k for k in (spec.keys if spec else ()) if k in df.columns]
    if not keys:
        return 0
    return int(df.groupBy(*keys).count().where("count > 1").count())


def compare_warehouses(spark: Any, trial: Path, baseline: Path, prepared: Path, *, killed_run: str | None = None,
                       rerun: str | None = None) -> list[TableDiff]:
    """Every Delta table of ``trial`` against ``baseline`` (both made from ``prepared``): the same
    tables, each readable, the same rows as multisets (less :data:`RUN_DEPENDENT` columns), no
    duplicated keys. A table no run committed to (its log is the prepared one in both) is the
    prepared copy in both and is not read."""
    diffs: list[TableDiff] = []
    t_tables, b_tables, p_tables = delta_tables(trial), delta_tables(baseline), delta_tables(prepared)
    for name in sorted(set(t_tables) | set(b_tables)):
        if name not in t_tables:
            diffs.append(TableDiff(name, "missing after the re-run"))
            continue
        if name not in b_tables:
            diffs.append(TableDiff(name, "exists only after the re-run"))
            continue
        if name in p_tables and _commits(t_tables[name]) == _commits(b_tables[name]) == _commits(p_tables[name]):
            continue
        try:
            t_df = _normalised(spark, t_tables[name], name, killed_run, rerun)
            t_rows = _rows(t_df)
        except ValueError:
            raise
        except Exception as exc:  # noqa: BLE001 - an unreadable table is the finding
            diffs.append(TableDiff(name, f"unreadable after the re-run: {type(exc).__name__}"))
            continue
        b_df = _normalised(spark, b_tables[name], name)
        b_rows = _rows(b_df)
        dups = _duplicate_keys(_raw(spark, t_tables[name], name, killed_run, rerun), name)
        if t_rows == b_rows and not dups:
            continue
        only_t, only_b = t_rows - b_rows, b_rows - t_rows
        diffs.append(TableDiff(
            name, "rows differ" if t_rows != b_rows else "duplicated keys",
            sum(t_rows.values()), sum(b_rows.values()), sum(only_t.values()), sum(only_b.values()), dups,
            _columns_differing(spark, t_df, b_df) if t_rows != b_rows else [],
        ))
    return diffs


def registry_state(warehouse: Path) -> dict[str, Any]:
    """The MLflow registry under ``<warehouse>/mlflow``: aliases and version counts per model."""
    db = warehouse / "mlflow" / "mlflow.db"
    if not db.exists():
        return {}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        aliases = con.execute("SELECT name, alias, version FROM registered_model_aliases").fetchall()
        versions = con.execute("SELECT name, count(*) FROM model_versions GROUP BY name").fetchall()
    out: dict[str, Any] = {}
    for name, n in versions:
        out.setdefault(name, {"aliases": {}})["versions"] = n
    for name, alias, version in aliases:
        out.setdefault(name, {"aliases": {}, "versions": 0})["aliases"][alias] = str(version)
    return out


@dataclass
class Trial:
    """One fault-injection trial, as docs/fault-injection.json records it."""

    trial: int
    stage: str
    kill_delay_s: float | None  # after the stage's "started" line (None: killed at a named point)
    kill_point: str | None  # the named point (a state the run reached), if any
    killed: bool  # False: the run ended before the kill point
    killed_after_s: float | None  # after the stage's "started" line
    last_step: str  # the last mlhops log line before the kill
    committed_before_kill: list[str]  # tables the killed run had committed to
    rerun_rc: int | None
    rerun_s: float
    outcome: str = ""
    differences: list[str] = field(default_factory=list)
    registry: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def commits(warehouse: Path) -> dict[str, int]:
    """Commits of each Delta table of a warehouse."""
    return {name: len(_commits(path)) for name, path in delta_tables(warehouse).items()}


def after_commit(warehouse: Path, table: str) -> Callable[[], bool]:
    """A ``kill_when``: true once ``table`` has a commit more than now (the run committed to it)."""
    before = commits(warehouse).get(table, 0)
    return lambda: commits(warehouse).get(table, 0) > before


def after_alias(warehouse: Path, alias: str, version: str) -> Callable[[], bool]:
    """A ``kill_when``: true once some registered model's ``alias`` points at ``version``."""
    def moved() -> bool:
        try:
            state = registry_state(warehouse)
        except sqlite3.Error:  # the store is being written: look again
            return False
        return any(m["aliases"].get(alias) == version for m in state.values())
    return moved


def kill_run(number: int, call: StageCall, state: Path, folder: Path, conf: Path, *,
             kill_after_s: float | None = None, kill_on: str | None = None,
             kill_when: Callable[[Path], Callable[[], bool]] | None = None) -> tuple[Invocation, Path]:
    """Copy ``state`` to ``folder/wh`` and run ``call`` there until it is killed (or ends);
    ``kill_when`` makes the kill predicate from the trial's warehouse."""
    wh = copy_state(state, folder / "wh")
    log = folder / "killed.log"
    return invoke(cli_command(call.argv, wh, conf, f"fi-{number}-killed", log), log, call.stage,
                  kill_after_s=kill_after_s, kill_on=kill_on, kill_when=kill_when(wh) if kill_when else None), wh


def run_trial(number: int, call: StageCall, state: Path, folder: Path, conf: Path, *,
              kill_after_s: float | None = None, kill_point: str | None = None,
              rerun: Runner | None = None, killed: tuple[Invocation, Path] | None = None) -> tuple[Trial, Path]:
    """Copy ``state``, run ``call`` and kill it ``kill_after_s`` after its start (unless
    ``killed`` says how that went: a run killed at ``kill_point``), then re-run it to completion
    (through ``rerun``, default the CLI in a subprocess). Returns the trial (outcome still empty)
    and its warehouse."""
    killed, wh = killed or kill_run(number, call, state, folder, conf, kill_after_s=kill_after_s)
    before, after = commits(state), commits(wh)
    committed = sorted(t for t, n in after.items() if n > before.get(t, 0))
    t0 = time.monotonic()
    rc: int | None = 0
    if rerun is None:
        rlog = folder / "rerun.log"
        res = invoke(cli_command(call.argv, wh, conf, f"fi-{number}-rerun", rlog), rlog, call.stage)
        rc = res.rc
    else:
        rc = rerun(call.argv, wh, f"fi-{number}-rerun")
    trial = Trial(number, call.label, kill_after_s, kill_point, killed.rc is None,
                  None if killed.killed_after_s is None else round(killed.killed_after_s, 2),
                  killed.last_step, committed, rc, round(time.monotonic() - t0, 1))
    return trial, wh


def judge(spark: Any, trial: Trial, wh: Path, baseline: Path, prepared: Path) -> Trial:
    """Fill in the trial's outcome: ``identical`` or ``differs`` with each difference."""
    diffs = [str(d) for d in compare_warehouses(spark, wh, baseline, prepared, killed_run=f"fi-{trial.trial}-killed",
                                                rerun=f"fi-{trial.trial}-rerun")]
    reg, base_reg = registry_state(wh), registry_state(baseline)
    if reg != base_reg:
        diffs.append(f"MLflow registry: {reg} after the re-run, {base_reg} in the baseline")
    if trial.rerun_rc not in (0, 3):
        diffs.append(f"re-run exited {trial.rerun_rc}")
    trial.registry = reg
    trial.differences = diffs
    trial.outcome = "identical" if not diffs else "differs"
    return trial
