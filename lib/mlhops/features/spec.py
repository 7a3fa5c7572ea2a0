"""Feature definitions: ``conf/features/*.yaml`` -> frozen :class:`FeatureSpec` objects.

Every consumer (feature builder, statistics, univariate and multivariate drift, models) learns
feature names and kinds only from :func:`load_feature_specs`. A YAML file holds::

    features:
      - name: heart_rate_mean
        kind: numeric
        source: measurement
        concept_ids: [3027018]
        agg: mean
        description: Mean heart rate recorded during the visit (per minute)

Sources and what they need:

* ``person``: ``field`` one of ``age`` (years at visit start), ``sex``, ``race``, ``ethnicity``.
* ``visit``: ``field`` one of ``visit_type``, ``length_of_stay_days``, ``admitted_from``,
  ``discharged_to``.
* ``measurement`` / ``observation``: ``concept_ids`` and ``agg`` (``last``, ``first``, ``mean``,
  ``min``, ``max``, ``count``); ``field`` is the value column (default ``value_as_number``).
* ``condition`` / ``drug`` / ``procedure``: ``agg: count`` (rows during the visit) or
  ``agg: any`` (binary: at least one), optionally restricted to ``concept_ids``.
* ``missing``: binary indicator that feature ``of`` is null for the visit.

Categorical values are strings: the concept id as text, or its ``labels`` entry when given.
"""

from __future__ import annotations

import re
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mlhops.config.binding import bind
from mlhops.config.definitions import definitions_dir, load_yaml_folder, parse_list_file
from mlhops.errors import ConfigError

if TYPE_CHECKING:
    from mlhops.config.model import Settings

FeatureKind = Literal["numeric", "categorical", "binary"]
FeatureSource = Literal[
    "person", "visit", "measurement", "observation", "condition", "drug", "procedure", "missing"
]
FeatureAgg = Literal["last", "first", "mean", "min", "max", "count", "any"]

# Key columns of the feature table; no feature may take these names.
KEY_COLUMNS: tuple[str, ...] = ("person_id", "visit_occurrence_id", "event_time", "event_date", "care_site_id")

PERSON_FIELDS = ("age", "sex", "race", "ethnicity")
VISIT_FIELDS = ("visit_type", "length_of_stay_days", "admitted_from", "discharged_to")
VALUE_AGGS = ("last", "first", "mean", "min", "max", "count")
EVENT_AGGS = ("count", "any")

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class FeatureSpec:
    """One feature: its name, kind and how it is derived from OMOP (see the module docstring)."""

    name: str
    kind: FeatureKind
    source: FeatureSource
    field: str | None = None
    agg: FeatureAgg | None = None
    concept_ids: tuple[int, ...] = ()
    of: str | None = None
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"feature name {self.name!r} must match {_NAME.pattern}")
        if self.name in KEY_COLUMNS:
            raise ValueError(f"feature name {self.name!r} is a key column of the feature table")
        problem = _check_source(self)
        if problem:
            raise ValueError(f"feature {self.name}: {problem}")

    @property
    def is_numeric(self) -> bool:
        """Numeric features get moments, quantiles and KS; others get counts and chi-squared."""
        return self.kind == "numeric"

    @property
    def spark_type(self) -> str:
        """Column type in the feature table (Spark SQL DDL)."""
        return {"numeric": "double", "categorical": "string", "binary": "int"}[self.kind]


def _check_source(spec: FeatureSpec) -> str | None:
    src = spec.source
    if src == "person":
        if spec.field not in PERSON_FIELDS:
            return f"source person needs field in {list(PERSON_FIELDS)}"
        want = "numeric" if spec.field == "age" else "categorical"
        return None if spec.kind == want else f"person.{spec.field} is {want}"
    if src == "visit":
        if spec.field not in VISIT_FIELDS:
            return f"source visit needs field in {list(VISIT_FIELDS)}"
        want = "numeric" if spec.field == "length_of_stay_days" else "categorical"
        return None if spec.kind == want else f"visit.{spec.field} is {want}"
    if src in ("measurement", "observation"):
        if not spec.concept_ids:
            return f"source {src} needs concept_ids"
        if spec.agg not in VALUE_AGGS:
            return f"source {src} needs agg in {list(VALUE_AGGS)}"
        if spec.agg == "count":
            return None if spec.kind == "numeric" else "agg count is numeric"
        if spec.field not in (None, "value_as_number", "value_as_concept_id", "value_as_string"):
            return "field must be value_as_number, value_as_concept_id or value_as_string"
        numeric_value = spec.field in (None, "value_as_number")
        if numeric_value and spec.kind != "numeric":
            return "value_as_number features are numeric"
        if not numeric_value and (spec.kind != "categorical" or spec.agg not in ("last", "first")):
            return "coded/text values are categorical with agg last or first"
        return None
    if src in ("condition", "drug", "procedure"):
        if spec.agg not in EVENT_AGGS:
            return f"source {src} needs agg in {list(EVENT_AGGS)}"
        want = "numeric" if spec.agg == "count" else "binary"
        return None if spec.kind == want else f"agg {spec.agg} is {want}"
    if src == "missing":
        if not spec.of:
            return "source missing needs of: <feature name>"
        return None if spec.kind == "binary" else "missing indicators are binary"
    return f"unknown source {src!r}"


def features_dir(settings: Settings) -> Path:
    """The directory of feature YAML files: ``features.definitions_dir`` or ``<conf>/features``."""
    return definitions_dir(settings.sources, settings.features.definitions_dir, "features")


def parse_feature_file(path: Path) -> list[FeatureSpec]:
    """Feature specs of one YAML file (``features:`` list); errors name the file and entry."""
    return parse_list_file(path, "features", FeatureSpec)


def load_feature_specs(settings: Settings) -> list[FeatureSpec]:
    """All feature specs, files in name order, entries in file order.

    Raises:
        ConfigError: no feature file, duplicate names, or a ``missing`` indicator whose ``of``
            is not a defined feature.
    """
    directory = features_dir(settings)
    specs = load_yaml_folder(directory, "features", FeatureSpec, what="feature definition")
    return validate_specs(specs, where=str(directory))


def validate_specs(specs: list[FeatureSpec], *, where: str) -> list[FeatureSpec]:
    """Check names are unique and ``missing`` indicators point at earlier-or-later features."""
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ConfigError(f"{where}: feature {spec.name} defined twice")
        seen.add(spec.name)
    for spec in specs:
        if spec.source == "missing" and spec.of not in seen:
            raise ConfigError(f"{where}: feature {spec.name}: of={spec.of!r} is not a defined feature")
        if spec.source == "missing" and spec.of is not None:
            target = next(s for s in specs if s.name == spec.of)
            if target.source == "missing":
                raise ConfigError(f"{where}: feature {spec.name}: cannot indicate a missing indicator")
    return specs


def feature_names(specs: list[FeatureSpec], kind: FeatureKind | None = None) -> list[str]:
    """Names of ``specs``, optionally only those of one kind."""
    return [s.name for s in specs if kind is None or s.kind == kind]
