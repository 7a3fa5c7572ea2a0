"""What the sources and the loader use of a run: the table catalog, the de-identifier (the run's
keyed hasher and date-shift setting) and the ``etl`` settings section."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlhops.config.model import EtlSettings
from mlhops.etl.deid import Deidentifier
from mlhops.io import Catalog


@dataclass(frozen=True)
class EtlEnv:
    """The catalog, de-identifier and ``etl`` settings of one ETL run (built by the stage)."""

    catalog: Catalog
    deid: Deidentifier
    etl: EtlSettings

    def standard(self, kind: str) -> dict[str, int]:
        """``etl.standard_concepts[kind]``: source value -> concept id (empty when unset)."""
        return dict(self.etl.standard_concepts.get(kind, {}))

    def type_concepts(self, defaults: Mapping[str, int]) -> dict[str, int]:
        """Type concept ids: ``defaults`` overridden by ``etl.standard_concepts.type``."""
        return {**defaults, **self.standard("type")}
