"""Table catalog: ``omop.<table>`` and ``mlhops.<table>`` names to warehouse locations."""

from __future__ import annotations

from dataclasses import dataclass

from mlhops.errors import ConfigError

SCHEMAS = ("omop", "mlhops")


@dataclass(frozen=True)
class Catalog:
    """Resolves table names under one warehouse root (local dir, dbfs:/, s3://, abfss://...)."""

    warehouse: str

    def path(self, name: str) -> str:
        """Location of ``schema.table``, e.g. ``omop.person`` -> ``<warehouse>/omop/person``."""
        schema, _, table = name.partition(".")
        if schema not in SCHEMAS or not table or "/" in table:
            raise ConfigError(f"table name {name!r} must be omop.<table> or mlhops.<table>")
        return f"{self.warehouse.rstrip('/')}/{schema}/{table}"

    def omop(self, table: str) -> str:
        return self.path(f"omop.{table}")

    def mlhops(self, table: str) -> str:
        return self.path(f"mlhops.{table}")

    @property
    def mlflow_dir(self) -> str:
        """Default local MLflow store (used when mlflow URIs are not configured)."""
        return f"{self.warehouse.rstrip('/')}/mlflow"

    @property
    def reports_dir(self) -> str:
        return f"{self.warehouse.rstrip('/')}/reports"
