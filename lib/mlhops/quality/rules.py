"""Quality check declarations: ``conf/quality/*.yaml`` -> frozen :class:`CheckSpec` objects.

Each check carries its Kahn category (``completeness``, ``conformance``, ``plausibility``) and
subcategory, the OMOP table and field it is about, and a ``threshold_pct``: the largest share
of failing rows (percent) that still passes. Check types and their parameters:

* ``required_fields`` (completeness): every column the CDM spec marks required must be non-null;
  expands into one check per required column (``<id>.<column>``).
* ``value_set`` (conformance): ``field`` in ``values``.
* ``concept_domain`` (conformance): ``field``'s concept (when in the loaded vocabulary; 0 =
  unmapped is skipped) belongs to ``domain``.
* ``foreign_key`` (conformance, relational): ``field`` exists in ``ref_table.ref_field``.
* ``unit`` (conformance): measurements of ``concept_ids`` carry a unit in ``units``.
* ``range`` (plausibility, atemporal): ``value_as_number`` of ``concept_ids`` within
  ``[min, max]``.
* ``before_birth`` / ``after_death`` (plausibility, temporal): the event ``field`` (a date) is
  not before the person's birth / not more than ``grace_days`` after death.
* ``end_before_start`` (plausibility, temporal): ``field`` (end) is not before ``start_field``.
* ``sex_specific`` (plausibility, atemporal): concepts in ``concept_ids`` of ``field`` only for
  persons of ``sex`` (``female`` or ``male``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mlhops.config.definitions import definitions_dir, load_yaml_folder
from mlhops.errors import ConfigError
from mlhops.omop import schema as omop_schema

if TYPE_CHECKING:
    from mlhops.config.stages import QualitySettings

Category = Literal["completeness", "conformance", "plausibility"]
CheckType = Literal[
    "required_fields", "value_set", "concept_domain", "foreign_key", "unit", "range",
    "before_birth", "after_death", "end_before_start", "sex_specific",
]

# Gender concepts of the OMOP Gender vocabulary.
SEX_CONCEPTS = {"female": 8532, "male": 8507}


@dataclass(frozen=True)
class CheckSpec:
    """One declared quality check (see the module docstring for each type's parameters)."""

    id: str
    type: CheckType
    category: Category
    subcategory: str
    table: str
    field: str | None = None
    description: str = ""
    threshold_pct: float | None = None
    date_field: str | None = None
    values: tuple[str, ...] = ()
    domain: str | None = None
    ref_table: str | None = None
    ref_field: str | None = None
    concept_ids: tuple[int, ...] = ()
    units: tuple[int, ...] = ()
    min: float | None = None
    max: float | None = None
    start_field: str | None = None
    grace_days: int = 0
    sex: Literal["female", "male"] | None = None

    def __post_init__(self) -> None:
        needs = {
            "value_set": ("field", "values"),
            "concept_domain": ("field", "domain"),
            "foreign_key": ("field", "ref_table", "ref_field"),
            "unit": ("concept_ids", "units"),
            "range": ("concept_ids",),
            "before_birth": ("field",),
            "after_death": ("field",),
            "end_before_start": ("field", "start_field"),
            "sex_specific": ("field", "concept_ids", "sex"),
        }.get(self.type, ())
        missing = [n for n in needs if not getattr(self, n)]
        if missing:
            raise ValueError(f"check {self.id} ({self.type}) needs {', '.join(missing)}")
        if self.type == "range" and self.min is None and self.max is None:
            raise ValueError(f"check {self.id} (range) needs min and/or max")
        if self.threshold_pct is not None and not 0.0 <= self.threshold_pct <= 100.0:
            raise ValueError(f"check {self.id}: threshold_pct must be within [0, 100]")
        known = set(omop_schema.columns(self.table))
        for name in (self.field, self.date_field, self.start_field):
            if name and name not in known:
                raise ValueError(f"check {self.id}: {self.table} has no column {name}")


def checks_dir(sources: Sequence[str], quality: QualitySettings) -> Path:
    """``quality.checks_dir`` or ``<conf>/quality`` (beside the settings' base file, ``sources[0]``)."""
    return definitions_dir(sources, quality.checks_dir, "quality")


def load_checks(directory: Path) -> list[CheckSpec]:
    """All checks of the ``*.yaml`` files of ``directory`` (``checks:`` lists), ``required_fields``
    expanded per required column; ids must be unique.

    Raises:
        ConfigError: no check file, invalid YAML, an invalid entry or duplicate ids.
    """
    declared = load_yaml_folder(directory, "checks", CheckSpec, what="quality check")
    flat = [c for check in declared for c in expand(check)]
    ids = [c.id for c in flat]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"{directory}: duplicate check id(s) {dupes}")
    return flat


def expand(check: CheckSpec) -> list[CheckSpec]:
    """``required_fields`` -> one check per required column of the table; others unchanged."""
    if check.type != "required_fields":
        return [check]
    return [
        dataclasses.replace(check, id=f"{check.id}.{col}", field=col)
        for col in omop_schema.required_columns(check.table)
    ]
