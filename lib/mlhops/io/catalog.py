"""Table catalog: ``omop.<table>`` and ``mlhops.<table>`` names to where the tables live.

Two kinds (setting ``catalog.kind``):

- ``path``: Delta folders under the warehouse root, ``<warehouse>/omop/person``.
- ``metastore``: tables registered in a catalog as ``<catalog>.<schema>.<table>`` (Spark's own
  session catalog, a Hive metastore, Unity Catalog) and read and written by that name only, so
  the catalog's grants, audit and lineage apply to every access. The logical schemas ``omop``
  and ``mlhops`` map to the configured ones (OHDSI calls the first the CDM schema).

Either way the warehouse root keeps the files that are not tables (the local MLflow store,
reports).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Literal

from mlhops.config.model import CATALOG_IDENTIFIER, CatalogSettings
from mlhops.errors import ConfigError

SCHEMAS = ("omop", "mlhops")
SESSION_CATALOG = "spark_catalog"


def _logical(name: str) -> tuple[str, str]:
    schema, _, table = name.partition(".")
    if schema not in SCHEMAS or not table or not CATALOG_IDENTIFIER.fullmatch(table):
        raise ConfigError(f"table name {name!r} must be omop.<table> or mlhops.<table>")
    return schema, table


@dataclass(frozen=True)
class Catalog:
    """Resolves table names under one warehouse root (local dir, dbfs:/, s3://, abfss://...) or
    in a metastore catalog."""

    warehouse: str
    kind: Literal["path", "metastore"] = "path"
    # metastore: the catalog (None: the session's current one) and the schemas of the two
    # logical schemas.
    name: str | None = None
    omop_schema: str = "omop"
    mlhops_schema: str = "mlhops"

    def __post_init__(self) -> None:
        if self.kind not in ("path", "metastore"):
            raise ConfigError(f"catalog kind {self.kind!r} must be path or metastore")
        for what, value in (("name", self.name), ("omop_schema", self.omop_schema),
                            ("mlhops_schema", self.mlhops_schema)):
            if value is not None and not CATALOG_IDENTIFIER.fullmatch(value):
                raise ConfigError(f"catalog {what} {value!r} must be letters, digits, _ or -")

    @classmethod
    def of(cls, warehouse: str, settings: CatalogSettings) -> Catalog:
        """The catalog the ``catalog`` settings describe, under ``warehouse``."""
        return cls(warehouse, **dataclasses.asdict(settings))

    @property
    def by_name(self) -> bool:
        """True when tables are registered in a metastore and addressed by name."""
        return self.kind == "metastore"

    def path(self, name: str) -> str:
        """Location of ``schema.table`` in path mode, e.g. ``omop.person`` -> ``<warehouse>/omop/person``.

        In metastore mode the catalog decides where files live; ask it (``io.delta.table_location``).
        """
        schema, table = _logical(name)
        if self.by_name:
            raise ConfigError(f"{name}: tables are in the metastore here; address them by name, not path")
        return f"{self.warehouse.rstrip('/')}/{schema}/{table}"

    def schema_name(self, schema: str) -> str:
        """Quoted ``catalog.schema`` of a logical schema (``omop`` or ``mlhops``), metastore mode."""
        physical = self.omop_schema if schema == "omop" else self.mlhops_schema
        return ".".join(f"`{p}`" for p in (self.name, physical) if p)

    def table_name(self, name: str) -> str:
        """Quoted three-level (or two-level, without a catalog name) table name, metastore mode."""
        schema, table = _logical(name)
        return f"{self.schema_name(schema)}.`{table}`"

    def sql_ref(self, name: str) -> str:
        """How SQL statements (ALTER, REORG) name the table: ``delta.`<path>``` or its name."""
        if self.by_name:
            return self.table_name(name)
        return "delta.`" + self.path(name).replace("`", "``") + "`"

    def key(self, name: str) -> str:
        """The table's path, or its unquoted name in the metastore: unique in this process
        (locks, caches) and what lineage records."""
        return self.table_name(name).replace("`", "") if self.by_name else self.path(name)

    def omop(self, table: str) -> str:
        """Path of ``omop.<table>`` (path mode)."""
        return self.path(f"omop.{table}")

    def mlhops(self, table: str) -> str:
        """Path of ``mlhops.<table>`` (path mode)."""
        return self.path(f"mlhops.{table}")

    def to_tag(self) -> str:
        """The catalog as one string (an MLflow tag), read back by :meth:`from_tag`."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_tag(cls, tag: str) -> Catalog:
        data = json.loads(tag)
        if not isinstance(data, dict):
            raise ConfigError("catalog tag is not a JSON object")
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})

    @property
    def mlflow_dir(self) -> str:
        """Default local MLflow store (used when mlflow URIs are not configured)."""
        return f"{self.warehouse.rstrip('/')}/mlflow"

    @property
    def reports_dir(self) -> str:
        return f"{self.warehouse.rstrip('/')}/reports"
