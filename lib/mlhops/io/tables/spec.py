"""What the catalog records of one table (kept apart so the area modules import it without
importing the catalog that lists them)."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import types as T


@dataclass(frozen=True)
class TableSpec:
    """One table of the warehouse.

    Attributes:
        name: ``omop.<table>`` or ``mlhops.<table>``.
        schema: the columns, in order; None where the columns follow configuration (the feature
            table's columns are the configured features).
        keys: columns that identify a row (MERGE keys; empty for replace-by-window tables).
        person_columns: columns that carry a person key (an OMOP ``person_id`` or a keyed hash of
            one); erasure and privacy reviews start here.
        owner: the stage that writes it.
        description: one line for ``docs/tables.md``.
    """

    name: str
    schema: T.StructType | None
    keys: tuple[str, ...]
    person_columns: tuple[str, ...]
    owner: str
    description: str = ""

    @property
    def columns(self) -> list[str]:
        """Column names in order (empty when the schema follows configuration)."""
        return [f.name for f in self.schema.fields] if self.schema is not None else []


def struct(*fields: tuple[str, T.DataType] | tuple[str, T.DataType, bool]) -> T.StructType:
    """A StructType from ``(name, type[, nullable])`` tuples (nullable unless said otherwise)."""
    return T.StructType([T.StructField(f[0], f[1], f[2] if len(f) > 2 else True) for f in fields])  # type: ignore[misc]
