"""The prediction task: ``conf/models/<task>.yaml`` -> a frozen :class:`TaskSpec`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mlhops.config.binding import bind
from mlhops.config.definitions import definitions_dir, read_yaml
from mlhops.errors import ConfigError

if TYPE_CHECKING:
    from mlhops.config.model import Settings


@dataclass(frozen=True)
class LabelSpec:
    """How the outcome is computed from OMOP ``visit_occurrence`` (documented in the task YAML)."""

    kind: Literal["readmission", "prolonged_stay"]
    index_visit_concept_ids: tuple[int, ...]
    outcome_visit_concept_ids: tuple[int, ...] = ()
    # readmission: window after discharge; prolonged_stay: minimum length of stay in days.
    horizon_days: int = 30

    def __post_init__(self) -> None:
        if not self.index_visit_concept_ids:
            raise ValueError("label.index_visit_concept_ids must not be empty")
        if self.kind == "readmission" and not self.outcome_visit_concept_ids:
            raise ValueError("readmission needs label.outcome_visit_concept_ids")
        if self.horizon_days < 1:
            raise ValueError("label.horizon_days must be >= 1")


@dataclass(frozen=True)
class TaskSpec:
    """A clinical prediction task and how its reference model is trained."""

    name: str
    registered_model: str
    label: LabelSpec
    description: str = ""
    exclude_features: tuple[str, ...] = ()
    algorithm: Literal["logistic_regression", "gradient_boosting"] = "logistic_regression"
    validation_fraction: float = 0.3
    split_seed: int = 17
    # Fixed operating threshold, or None to pick the one reaching target_sensitivity on validation.
    threshold: float | None = None
    target_sensitivity: float = 0.7
    max_training_rows: int = 500_000

    def __post_init__(self) -> None:
        if not 0.05 <= self.validation_fraction <= 0.5:
            raise ValueError("validation_fraction must be within [0.05, 0.5]")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise ValueError("threshold must be within (0, 1)")


def tasks_dir(settings: Settings) -> Path:
    """``models.tasks_dir``, else ``conf/models`` beside the base configuration the settings came from."""
    return definitions_dir(settings.sources, settings.models.tasks_dir, "models")


def load_task(settings: Settings, name: str | None = None) -> TaskSpec:
    """The task named ``name`` (default ``models.task``) from ``conf/models/<name>.yaml``.

    Raises:
        ConfigError: missing file, invalid YAML, unknown keys or a name that differs from the file.
    """
    task = name or settings.models.task
    path = tasks_dir(settings) / f"{task}.yaml"
    data = read_yaml(path, missing=f"task definition not found (models.task = {task!r})") or {}
    spec = bind(TaskSpec, data, where=str(path))
    if spec.name != task:
        raise ConfigError(f"{path}: name {spec.name!r} differs from the file name")
    return spec
