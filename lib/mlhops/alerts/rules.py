"""Alert rules from ``conf/alerts.yaml``: what to watch, how bad it is, which runbook to open."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mlhops.config.binding import bind
from mlhops.config.definitions import read_yaml, repo_path
from mlhops.errors import ConfigError

if TYPE_CHECKING:
    from mlhops.config.stages import AlertSettings

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITY_ORDER: dict[str, int] = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

RuleKind = Literal[
    "drift",
    "multivariate_drift",
    "quality",
    "performance",
    "calibration",
    "fairness",
    "quarantine",
    "concept_drift",
    "label_shift",
    "model_trigger",
    "label_request",
]


@dataclass(frozen=True)
class AlertRule:
    """One alert rule. ``runbook`` is a path#section under docs/runbooks/."""

    id: str
    kind: RuleKind
    severity: Severity
    runbook: str
    description: str = ""
    # drift: consecutive windows that must be significant AND large
    consecutive_windows: int = 1
    # drift: minimum effect size next to significance; fairness: max gap;
    # label_shift: minimum |estimated - reference| positive prior
    min_effect: float = 0.0
    # performance/calibration: metric name and bound
    metric: str | None = None
    min_value: float | None = None
    max_value: float | None = None
    # quarantine: max fraction of rows quarantined per source table
    max_fraction: float | None = None
    # restrict to these features / checks / tables / metrics / concept-drift detectors /
    # trigger kinds / label-request statuses (empty: all; label_request: open)
    only: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.consecutive_windows < 1:
            raise ValueError(f"rule {self.id}: consecutive_windows must be >= 1")
        if "#" not in self.runbook:
            raise ValueError(f"rule {self.id}: runbook must name a section, e.g. drift.md#univariate-drift")


@dataclass(frozen=True)
class RuleSet:
    """The rules file: ``rules:`` list."""

    rules: tuple[AlertRule, ...]


def rules_path(alerts: AlertSettings) -> Path:
    """``alerts.rules_file``: as given when absolute or present, else under the repository root."""
    return repo_path(alerts.rules_file)


def load_rules(path: str | Path) -> tuple[AlertRule, ...]:
    """Load and validate the rules file; ids must be unique.

    Raises:
        ConfigError: missing file, invalid YAML, an invalid rule or duplicate ids.
    """
    p = Path(path)
    data = read_yaml(p, missing="alert rules file not found")
    rules = bind(RuleSet, data, where=str(p)).rules
    ids = [r.id for r in rules]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"{p}: duplicate rule id(s) {', '.join(dupes)}")
    return rules


def at_or_above(severity: str, threshold: str) -> bool:
    """``severity`` is at least as severe as ``threshold``."""
    return SEVERITY_ORDER[severity] >= SEVERITY_ORDER[threshold]
