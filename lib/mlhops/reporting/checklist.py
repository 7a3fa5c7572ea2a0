"""The MLHOps checklist as evidence: each software-facing step with the system's own record that
evidences it (a table with rows and its Delta version, a registered model version, a run, a test
file), or "not evidenced"; organisational steps (ethics review, consent, clinical sign-off,
intended use ...) are what the team recorded in ``governance.checklist``, or "not recorded".

Only existence, counts of versions and table names are read: no row value reaches the page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.sql import SparkSession

from mlhops.io import Catalog, read_table, table_exists, table_version
from mlhops.io.tables.core import RUNS
from mlhops.io.tables.etl import ID_MAP, QUARANTINE, VISIT_OCCURRENCE
from mlhops.io.tables.models import (
    APPROVALS, FAIRNESS_DISPARITIES, INFERENCE_LOG, LABEL_REQUESTS, LABELS, MODEL_DRIFT, MODEL_EVENTS,
    MODEL_IMPORTANCE, MODEL_PRIVACY, MODEL_TRIGGERS, PERFORMANCE_METRICS, PROMOTION_DECISIONS,
)
from mlhops.io.tables.monitoring import DRIFT_METRICS, FEATURES, MULTIVARIATE_DRIFT, PROFILE_METRICS
from mlhops.io.tables.operations import ALERTS, QUALITY_RESULTS
from mlhops.reporting.html import badge, escape, table

if TYPE_CHECKING:
    from mlhops.config.stages import ChecklistSettings
    from mlhops.tracking import Tracker

logger = logging.getLogger(__name__)

EVIDENCED, NOT_EVIDENCED = "evidenced", "not evidenced"
RECORDED, NOT_RECORDED = "recorded", "not recorded"
# The repository root when mlhops runs from a checkout (tests/, docs/, .ci/ beside lib/).
REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class ChecklistItem:
    """One checklist step, whether it is evidenced (or recorded) and by what."""

    area: str
    step: str
    status: str
    evidence: str


class _Evidence:
    """Cached look-ups of the warehouse, the registry and the checkout."""

    def __init__(self, spark: SparkSession, cat: Catalog, tracker: Tracker | None, model_names: Sequence[str]) -> None:
        self.spark, self.cat, self.tracker, self.names = spark, cat, tracker, list(model_names)
        self._rows: dict[str, tuple[bool, int | None]] = {}
        self._versions: list[tuple[str, str, dict[str, str]]] | None = None

    def table(self, name: str) -> tuple[bool, str]:
        """(has rows, "<table> has rows (Delta version v)" / why not)."""
        if name not in self._rows:
            exists = table_exists(self.spark, self.cat, name)
            has = exists and read_table(self.spark, self.cat, name).limit(1).count() > 0
            self._rows[name] = (has, table_version(self.spark, self.cat, name) if exists else None)
        has, version = self._rows[name]
        label = name.replace(".", "/")
        if has:
            return True, f"{label} has rows (Delta version {version})"
        return False, f"{label} is empty" if version is not None else f"{label} not written yet"

    def versions(self) -> list[tuple[str, str, dict[str, str]]]:
        """Registered (model, version, tags) of the warehouse's models (empty when unreachable)."""
        if self._versions is None:
            self._versions = []
            if self.tracker is not None:
                try:
                    client = self.tracker.client()
                    for name in self.names:
                        full = self.tracker.registered_name(name)
                        for mv in client.search_model_versions(f"name='{full}'"):
                            self._versions.append((name, str(mv.version), dict(mv.tags or {})))
                except Exception:  # noqa: BLE001 - the checklist renders without the registry
                    logger.warning("model registry not readable for the checklist", exc_info=True)
        return self._versions

    def tagged(self, tag: str, what: str) -> tuple[bool, str]:
        hits = [f"{n} v{v}" for n, v, tags in self.versions() if tags.get(tag)]
        if hits:
            return True, f"{what}: registry tag {tag} on {', '.join(hits[:5])}"
        return False, f"no registered version carries {tag}"

    def run_of(self, stage: str) -> tuple[bool, str]:
        ok, why = self.table(RUNS)
        if not ok:
            return False, why
        runs = read_table(self.spark, self.cat, RUNS)
        last = runs.where((runs["stage"] == stage) & runs["status"].isin("ok", "alerts")) \
            .orderBy(runs["ended_at"].desc()).select("run_id").limit(1).collect()
        return (True, f"stage {stage}: latest successful run {last[0][0]}") if last else \
            (False, f"no successful {stage} run in mlhops/runs")

    @staticmethod
    def files(*paths: str) -> tuple[bool, str]:
        found = [p for p in paths if (REPO_ROOT / p).exists()]
        if found:
            return True, ", ".join(found)
        return False, "not in this installation: " + ", ".join(paths)


def _all(*checks: tuple[bool, str]) -> tuple[bool, str]:
    """Evidenced when every check is; the evidence names each."""
    return all(c[0] for c in checks), "; ".join(c[1] for c in checks)


def _any(*checks: tuple[bool, str]) -> tuple[bool, str]:
    """Evidenced when one check is; the evidence names those that are (or all when none is)."""
    hits = [c for c in checks if c[0]]
    return (True, "; ".join(c[1] for c in hits)) if hits else (False, "; ".join(c[1] for c in checks))


def _software(e: _Evidence) -> list[tuple[str, str, Callable[[], tuple[bool, str]]]]:
    """(area, step, check) of every software-facing step."""
    t, f = e.table, e.files
    return [
        ("Data management", "Collection (sources to OMOP CDM)", lambda: _any(e.run_of("etl"), t(VISIT_OCCURRENCE))),
        ("Data management", "Cleaning (quality checks, quarantine)",
         lambda: _all(t(QUALITY_RESULTS), _any(t(QUARANTINE), f("tests/spark/etl")))),
        ("Data management", "Anonymisation (keyed hashes, date shifts)",
         lambda: _any(t(ID_MAP), t(INFERENCE_LOG))),
        ("Data management", "Labelling (delayed labels, label requests)", lambda: _all(t(LABELS), t(LABEL_REQUESTS))),
        ("Data management", "Versioning and lineage (Delta versions per run)",
         lambda: _all(t(RUNS), e.tagged("mlhops.features_table_version", "training data version"))),
        ("Model development", "Patient-level train / validation split",
         lambda: e.tagged("mlhops.split_seed", "split recorded")),
        ("Model development", "Hyper-parameter tuning",
         lambda: (False, "no tuning run is recorded: the estimator's settings are fixed in code")),
        ("Model development", "Metrics with intervals", lambda: t(PERFORMANCE_METRICS)),
        ("Model development", "Model versioning (registry, aliases)", lambda: _versions(e)),
        ("Model development", "Result tracking (MLflow runs)", lambda: _all(t(RUNS), _versions(e))),
        ("Evaluation", "Automated tests", lambda: f("tests/unit", "tests/spark")),
        ("Evaluation", "Edge cases (bad input, small groups)",
         lambda: f("tests/spark/etl", "tests/unit/models/test_shift_and_fairness.py")),
        ("Evaluation", "Fairness (subgroup metrics and gaps)", lambda: t(FAIRNESS_DISPARITIES)),
        ("Evaluation", "Interpretability (global importance)", lambda: t(MODEL_IMPORTANCE)),
        ("Evaluation", "Privacy / leakage testing (membership inference)",
         lambda: _all(t(MODEL_PRIVACY), e.tagged("mlhops.membership_verdict", "verdict"))),
        ("Pipeline", "Pipeline tests", lambda: f("tests/spark/pipelines", "tests/e2e")),
        ("Pipeline", "Documentation", lambda: f("docs/tables.md", "docs/architecture.md", "docs/runbooks")),
        ("Pipeline", "Logging (every stage run recorded)", lambda: t(RUNS)),
        ("Pipeline", "Data drift monitoring",
         lambda: _any(t(DRIFT_METRICS), t(MULTIVARIATE_DRIFT), t(PROFILE_METRICS))),
        ("Pipeline", "Concept-drift monitoring", lambda: t(MODEL_DRIFT)),
        ("Pipeline", "Alerts", lambda: _any(t(ALERTS), t(MODEL_TRIGGERS))),
        ("Deployment", "A/B (challenger shadow-scored and compared)", lambda: t(PROMOTION_DECISIONS)),
        ("Deployment", "Privacy at inference (hashed keys only in the log)", lambda: t(INFERENCE_LOG)),
        ("Deployment", "Backup and recovery (Delta time travel, rollback)",
         lambda: _all(t(FEATURES), _any(t(MODEL_EVENTS), (False, "no rollback or promotion recorded")))),
        ("Deployment", "Governance (approved champion changes)", lambda: _any(t(APPROVALS), t(MODEL_EVENTS))),
        ("Monitoring", "Performance monitored per window (realized and estimated)", lambda: t(PERFORMANCE_METRICS)),
        ("CI/CD", "Continuous integration", lambda: f(".ci/run", "setup.cfg")),
    ]


def _versions(e: _Evidence) -> tuple[bool, str]:
    vs = e.versions()
    if not vs:
        return False, "no registered model version"
    return True, "registered: " + ", ".join(f"{n} v{v}" for n, v, _ in vs[:8])


ORGANISATIONAL = (
    ("Organisation", "Intended use", "intended_use"),
    ("Organisation", "Target population", "target_population"),
    ("Organisation", "Inclusion criteria", "inclusion_criteria"),
    ("Organisation", "Ethics review", "ethics_review"),
    ("Organisation", "Consent / lawful basis", "consent"),
    ("Organisation", "Clinical sign-off", "clinical_sign_off"),
    ("Organisation", "Data provenance", "data_provenance"),
    ("Organisation", "Backup and recovery plan", "backup_and_recovery"),
    ("Organisation", "A/B or staged roll-out plan", "ab_testing"),
    ("Organisation", "Governance owner", "governance_owner"),
)


def gather(spark: SparkSession, cat: Catalog, tracker: Tracker | None, model_names: Sequence[str],
           records: ChecklistSettings) -> list[ChecklistItem]:
    """Every checklist item with its status and evidence.

    Args:
        spark: the session.
        cat: the warehouse whose tables evidence the steps.
        tracker: the MLflow tracker (registered versions and their tags); None: not evidenced.
        model_names: the registered models of the warehouse.
        records: the team's ``governance.checklist`` records.
    """
    e = _Evidence(spark, cat, tracker, model_names)
    items = []
    for area, step, check in _software(e):
        ok, evidence = check()
        items.append(ChecklistItem(area, step, EVIDENCED if ok else NOT_EVIDENCED, evidence))
    for area, step, key in ORGANISATIONAL:
        text = str(getattr(records, key)).strip()
        items.append(ChecklistItem(area, step, RECORDED if text else NOT_RECORDED,
                                   text or f"governance.checklist.{key} is empty"))
    return items


def render_html(items: Sequence[ChecklistItem]) -> str:
    """The checklist section: a summary line and one table row per item."""
    done = sum(i.status in (EVIDENCED, RECORDED) for i in items)
    css = {EVIDENCED: "ok", RECORDED: "ok", NOT_EVIDENCED: "fail", NOT_RECORDED: "muted"}
    rows = [(i.area, i.step, badge(i.status, css[i.status]), i.evidence) for i in items]
    return (f"<p>{done} of {len(items)} checklist item(s) evidenced by this system's records or recorded by the "
            "team (<code>governance.checklist</code>). The same page is written as <code>checklist.md</code> "
            "beside the report.</p>" + table(["area", "step", "status", "evidence"], rows))


def render_markdown(items: Sequence[ChecklistItem], *, run_id: str) -> str:
    """The checklist as a Markdown document (the export written beside the report)."""
    lines = [f"# MLHOps checklist (run {run_id})", "",
             f"{sum(i.status in (EVIDENCED, RECORDED) for i in items)} of {len(items)} items evidenced or recorded.",
             ""]
    area = None
    for i in items:
        if i.area != area:
            area = i.area
            lines += ["", f"## {area}", "", "| step | status | evidence |", "|---|---|---|"]
        lines.append(f"| {_md(i.step)} | {i.status} | {_md(i.evidence)} |")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return escape(text).replace("|", "\\|").replace("\n", " ")
