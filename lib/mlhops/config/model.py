"""The settings tree. One frozen dataclass per YAML section; see ``conf/base.yaml`` for docs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from mlhops.config.stages import (
    AlertSettings,
    DriftSettings,
    FeatureSettings,
    GovernanceSettings,
    ModelSettings,
    QualitySettings,
    ReportSettings,
    StatsSettings,
)


@dataclass(frozen=True)
class SparkSettings:
    """Spark session options. On a cluster leave ``master`` unset: spark-submit decides."""

    master: str | None = None
    app_name: str = "mlhops"
    # cache: add the Delta jars fetched by scripts/ set-up (no network at run time)
    # packages: let Spark resolve io.delta from Maven (cluster with Maven access)
    # provided: the platform ships Delta already (Databricks, EMR with Delta enabled)
    delta_jars: Literal["cache", "packages", "provided"] = "provided"
    driver_memory: str | None = None
    conf: dict[str, str] = field(default_factory=dict)


# A catalog or schema name as mlhops accepts it (Unity Catalog's rules; quoted with backticks in SQL).
CATALOG_IDENTIFIER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class MlflowSettings:
    """MLflow tracking/registry. Unset URIs mean a local SQLite store under the warehouse."""

    tracking_uri: str | None = None
    registry_uri: str | None = None
    experiment: str = "mlhops"
    # Artifact root for a newly created experiment (default: beside the local store).
    artifact_location: str | None = None
    # Unity Catalog registry (registry_uri ``databricks-uc``): models are named
    # ``<uc_catalog>.<uc_schema>.<model>``; both are required there.
    uc_catalog: str | None = None
    uc_schema: str | None = None

    def __post_init__(self) -> None:
        for key in ("uc_catalog", "uc_schema"):
            value = getattr(self, key)
            if value is not None and not CATALOG_IDENTIFIER.fullmatch(value):
                raise ValueError(f"{key} must be a Unity Catalog identifier (letters, digits, _ or -)")
        uc = self.registry_uri == "databricks-uc" or (self.registry_uri or "").startswith("databricks-uc:")
        if uc and not (self.uc_catalog and self.uc_schema):
            raise ValueError("registry_uri databricks-uc needs uc_catalog and uc_schema (three-level model names)")


@dataclass(frozen=True)
class CatalogSettings:
    """Where the tables live (mlhops.io.catalog). ``path``: Delta folders under the warehouse
    root. ``metastore``: tables ``<name>.<schema>.<table>`` in a catalog (Spark's own, a Hive
    metastore, Unity Catalog), read and written by name so its grants and lineage apply."""

    kind: Literal["path", "metastore"] = "path"
    # The catalog (spark_catalog, a Unity Catalog catalog); null: the session's current one.
    name: str | None = None
    # The schemas of the OMOP tables (OHDSI's CDM schema) and of the platform's own tables.
    omop_schema: str = "omop"
    mlhops_schema: str = "mlhops"

    def __post_init__(self) -> None:
        for key in ("name", "omop_schema", "mlhops_schema"):
            value = getattr(self, key)
            if value is not None and not CATALOG_IDENTIFIER.fullmatch(value):
                raise ValueError(f"{key} must be a catalog identifier (letters, digits, _ or -)")
        if self.kind == "path" and (self.name is not None or (self.omop_schema, self.mlhops_schema) != ("omop", "mlhops")):
            raise ValueError("name and schemas apply to kind metastore only (kind path keeps <warehouse>/omop and /mlhops)")


@dataclass(frozen=True)
class DeidSettings:
    """De-identification. The salt is never in YAML: it comes from an env var or a secret."""

    salt_env: str = "MLHOPS_DEID_SALT"
    # Databricks secret "scope/key"; read through dbutils when running there.
    salt_secret: str | None = None
    # Local demo only: without a salt, use a fixed development salt. Refused elsewhere.
    allow_default_salt: bool = False
    # Per-person date shift drawn in [-max, +max] days from the salted person hash; 0 disables,
    # which outside the local environment needs allow_exact_dates (exact dates are identifiers).
    date_shift_max_days: int = 30
    allow_exact_dates: bool = False

    def __post_init__(self) -> None:
        if self.date_shift_max_days < 0:
            raise ValueError("date_shift_max_days must be >= 0")


@dataclass(frozen=True)
class EtlSettings:
    """Raw source -> OMOP options."""

    vocabulary_dir: str = "data/vocabulary"
    # Demo/nightly input when no --input is given: {source: folder or [folder, ...]}. A list is
    # loaded in order, one batch per folder, by the one etl stage (e.g. a second site's export).
    inputs: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    # Maximum share of quarantined rows per source table before the run is flagged.
    max_quarantine_fraction: float = 0.05
    # Shuffle partitions used by the ETL; small inputs run faster with few partitions.
    shuffle_partitions: int = 8
    # Independent Spark jobs the ETL runs at the same time (source files read, OMOP tables
    # written as separate Delta commits): overlaps each job's driver-side work (planning, Delta
    # log, small-task scheduling) with the others' tasks.
    concurrent_jobs: int = 4
    # Standard concepts for source values that have no vocabulary (gender, race, ...):
    # {category: {source_value: concept_id}}
    standard_concepts: dict[str, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_quarantine_fraction <= 1.0:
            raise ValueError("max_quarantine_fraction must be within [0, 1]")
        if self.concurrent_jobs < 1:
            raise ValueError("concurrent_jobs must be at least 1")
        for source, folders in self.inputs.items():
            paths = (folders,) if isinstance(folders, str) else folders
            if not paths or not all(p.strip() for p in paths):
                raise ValueError(f"inputs.{source} must be a folder or a non-empty list of folders")


# The exit codes a run may end with when alerts fire (cli.EXIT_ALERTS, or success).
ALERT_EXIT_CODES = (0, 3)


@dataclass(frozen=True)
class RunSettings:
    """How a run reports its outcome to whatever launched it."""

    # 3 (default): alerts at or above the configured severity end the run with exit code 3.
    # 0: for launchers that treat any non-zero exit as a failure (Databricks jobs, Airflow's
    # BashOperator, cron mail); alerts are then signalled through the alerts table and, on
    # Databricks, the task values.
    exit_code_on_alerts: int = 3

    def __post_init__(self) -> None:
        if self.exit_code_on_alerts not in ALERT_EXIT_CODES:
            raise ValueError(f"exit_code_on_alerts must be one of {ALERT_EXIT_CODES}")


@dataclass(frozen=True)
class ErasureSettings:
    """``mlhops erase``: removing persons from every table and purging their old file versions."""

    # Delta VACUUM retention applied to the tables an erasure changed: files removed longer ago
    # than this are deleted. 0 purges the erased rows' old files at once; it overrides Delta's
    # 7-day retention safety check for those tables only, during the erasure (a reader pinned to
    # an older version of them, e.g. a running nightly, then fails and must re-run).
    vacuum_retention_hours: float = 0.0
    # Lines of an --ids file at most (one source patient id per line).
    max_ids: int = 10_000

    def __post_init__(self) -> None:
        if self.vacuum_retention_hours < 0:
            raise ValueError("vacuum_retention_hours must be >= 0")
        if self.max_ids < 1:
            raise ValueError("max_ids must be at least 1")


@dataclass(frozen=True)
class Settings:
    """The whole validated configuration."""

    environment: str
    warehouse: str
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    catalog: CatalogSettings = field(default_factory=CatalogSettings)
    spark: SparkSettings = field(default_factory=SparkSettings)
    mlflow: MlflowSettings = field(default_factory=MlflowSettings)
    deid: DeidSettings = field(default_factory=DeidSettings)
    etl: EtlSettings = field(default_factory=EtlSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    features: FeatureSettings = field(default_factory=FeatureSettings)
    stats: StatsSettings = field(default_factory=StatsSettings)
    drift: DriftSettings = field(default_factory=DriftSettings)
    models: ModelSettings = field(default_factory=ModelSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    governance: GovernanceSettings = field(default_factory=GovernanceSettings)
    run: RunSettings = field(default_factory=RunSettings)
    erasure: ErasureSettings = field(default_factory=ErasureSettings)
    # Files the settings were read from, in merge order (for lineage and error messages).
    sources: tuple[str, ...] = ()

    @property
    def is_local(self) -> bool:
        return self.environment == "local"
