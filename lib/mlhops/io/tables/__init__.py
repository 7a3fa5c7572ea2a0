"""The table catalog: every OMOP and platform table, its schema, keys, person-key columns and the
stage that owns (writes) it.

Readers and writers name tables through these constants and specs, never by literal strings.
Later work reads this list: erasure (which columns carry a person key), documentation
(``docs/tables.md``), retention. One module per owning area adds its tables:
``tables/core.py`` (orchestrator), ``tables/etl.py`` (OMOP CDM + id map + quarantine),
``tables/monitoring.py`` (features, statistics, drift), ``tables/models.py`` (model lifecycle),
``tables/operations.py`` (quality, alerts).
"""

from __future__ import annotations

from mlhops.errors import ConfigError
from mlhops.io.tables import core, etl, models, monitoring, operations
from mlhops.io.tables.spec import TableSpec, struct


def _registry() -> dict[str, TableSpec]:
    out: dict[str, TableSpec] = {}
    for module in (core, etl, monitoring, models, operations):
        for spec in module.TABLES:
            if spec.name in out:
                raise ValueError(f"table {spec.name} declared twice")
            out[spec.name] = spec
    return out


_REGISTRY = _registry()


def all_tables() -> dict[str, TableSpec]:
    """Every table of the warehouse by name."""
    return _REGISTRY


def spec(name: str) -> TableSpec:
    """The spec of ``name``; a configuration error for a table the catalog does not know."""
    try:
        return all_tables()[name]
    except KeyError:
        raise ConfigError(f"table {name!r} is not in the table catalog (mlhops.io.tables)") from None


def person_key_tables() -> dict[str, tuple[str, ...]]:
    """Tables that hold person keys, with those columns."""
    return {n: s.person_columns for n, s in all_tables().items() if s.person_columns}


__all__ = ["TableSpec", "all_tables", "person_key_tables", "spec", "struct"]
