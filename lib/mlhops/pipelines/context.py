"""The one context of a run, built once at each entry point (CLI, jobs, notebooks, tests).

Stages take the context and hand each concern only what it uses (the Spark session, the table
catalog, a settings section, the keyed hasher, the tracker); no concern builds these itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from pyspark.sql import SparkSession

from mlhops.config.model import Settings
from mlhops.hashing import KeyedHasher
from mlhops.io import Catalog
from mlhops.io.delta import ensure_schemas
from mlhops.io.warehouse_identity import check_salt_fingerprint
from mlhops.tracking import Tracker


@dataclass(frozen=True)
class Context:
    """Spark, settings, the table catalog, the keyed hasher and the MLflow tracker of a run."""

    spark: SparkSession
    settings: Settings
    catalog: Catalog
    tracker: Tracker = field(compare=False)

    @cached_property
    def hasher(self) -> KeyedHasher:
        """The keyed identifier hash, its salt resolved on first use (stages that never hash
        identifiers run without a salt configured) and checked against the salt the warehouse
        was built with (:mod:`mlhops.io.warehouse_identity`)."""
        from mlhops.config.secrets import resolve_salt

        hasher = KeyedHasher(resolve_salt(self.settings))
        check_salt_fingerprint(self.spark, self.catalog, hasher.fingerprint())
        return hasher

    @classmethod
    def build(cls, settings: Settings, spark: SparkSession | None = None) -> Context:
        """The context of an entry point; creates the Spark session unless one is given."""
        if spark is None:
            from mlhops.spark import get_spark

            spark = get_spark(settings)
        catalog = Catalog.of(settings.warehouse, settings.catalog)
        ensure_schemas(spark, catalog)
        tracker = Tracker(settings.mlflow, environment=settings.environment, local_dir=catalog.mlflow_dir)
        return cls(spark=spark, settings=settings, catalog=catalog, tracker=tracker)
