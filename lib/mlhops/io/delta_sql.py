"""The Delta table operations mlhops uses, in Delta's SQL, for Spark Connect sessions.

Under Spark Connect, ``delta.tables.DeltaTable`` needs Delta Connect's server plugins
(``DeltaRelationPlugin``/``DeltaCommandPlugin``), which a Connect server may not load (Maven
Central does not serve ``delta-connect-server`` for Delta 4.4; Databricks serverless has its own).
Delta's SQL extension, which every Delta session loads, runs the same operations as statements:
``MERGE INTO``, ``UPDATE``, ``DELETE``, ``DESCRIBE HISTORY/DETAIL``, ``VACUUM``, ``OPTIMIZE``. This
handle offers the subset of the ``DeltaTable`` API mlhops calls, built on those statements, so
the callers are the same on a classic and a Connect session (:func:`mlhops.io.delta.delta_table`
picks the handle).

Conditions and assignments are SQL text (a ``Column`` cannot be turned back into SQL on a Connect
client). A merge source is registered as a temporary view with a unique name for the statement
and dropped after it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from decimal import Decimal
from dataclasses import dataclass, field, replace

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import types as T


def sql_literal(value: object) -> str:
    """A SQL literal of a Python value (conditions are SQL text, as a Spark Connect session
    needs): numbers as written, strings quoted (backslash escapes, Spark's default), dates and
    naive UTC times (sessions run in UTC) typed."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value) + "D"  # a DOUBLE literal (bare 1.5 would be a DECIMAL)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    raise TypeError(f"no SQL literal for a {type(value).__name__}")


def _sql_text(condition: object, what: str) -> str:
    if not isinstance(condition, str):
        raise TypeError(f"{what} must be SQL text on a Spark Connect session, not {type(condition).__name__}")
    return condition


def _source_alias(source: DataFrame) -> str:
    """The alias the caller gave the merge source (``df.alias("s")``), read from a Connect
    DataFrame's plan; ``s`` (every caller's) where the plan does not tell (a classic DataFrame)."""
    alias = getattr(getattr(source, "_plan", None), "_alias", None)
    return alias if isinstance(alias, str) else "s"


def same_column(f: T.StructField) -> str:
    """SQL condition "target and source hold the same value" for one column (maps, which SQL
    cannot compare, by their JSON)."""
    if isinstance(f.dataType, T.MapType) or (
        isinstance(f.dataType, T.ArrayType) and isinstance(f.dataType.elementType, T.MapType)
    ):
        return f"to_json(t.`{f.name}`) <=> to_json(s.`{f.name}`)"
    return f"t.`{f.name}` <=> s.`{f.name}`"


@dataclass(frozen=True)
class _Clause:
    kind: str  # "MATCHED" or "NOT MATCHED"
    condition: str | None
    action: str  # "UPDATE SET *", "DELETE", "INSERT *"

    def sql(self) -> str:
        cond = f" AND ({self.condition})" if self.condition else ""
        return f"WHEN {self.kind}{cond} THEN {self.action}"


@dataclass(frozen=True)
class SqlMerge:
    """``MERGE INTO`` built clause by clause, as ``DeltaMergeBuilder`` is."""

    table: SqlDeltaTable
    source: DataFrame
    source_alias: str
    condition: str
    clauses: tuple[_Clause, ...] = ()

    def _with(self, kind: str, condition: object, action: str) -> SqlMerge:
        cond = None if condition is None else _sql_text(condition, "a MERGE clause condition")
        return replace(self, clauses=(*self.clauses, _Clause(kind, cond, action)))

    def whenMatchedUpdateAll(self, condition: object = None) -> SqlMerge:  # noqa: N802 (DeltaTable's names)
        return self._with("MATCHED", condition, "UPDATE SET *")

    def whenMatchedDelete(self, condition: object = None) -> SqlMerge:  # noqa: N802
        return self._with("MATCHED", condition, "DELETE")

    def whenNotMatchedInsertAll(self, condition: object = None) -> SqlMerge:  # noqa: N802
        return self._with("NOT MATCHED", condition, "INSERT *")

    def execute(self) -> None:
        if not self.clauses:
            raise ValueError("a MERGE needs at least one WHEN clause")
        view = f"mlhops_merge_{uuid.uuid4().hex}"
        spark = self.table.spark
        self.source.createOrReplaceTempView(view)
        try:
            spark.sql(
                f"MERGE INTO {self.table.ref} AS {self.table.alias_name} USING {view} AS {self.source_alias} "
                f"ON {self.condition} " + " ".join(c.sql() for c in self.clauses)
            ).collect()
        finally:
            spark.catalog.dropTempView(view)


@dataclass(frozen=True)
class SqlOptimize:
    """``OPTIMIZE`` (bin-packing compaction, or clustering on a clustered table)."""

    table: SqlDeltaTable
    partition_filter: str | None = None

    def where(self, partition_filter: str) -> SqlOptimize:
        return replace(self, partition_filter=partition_filter)

    def executeCompaction(self) -> DataFrame:  # noqa: N802
        where = f" WHERE {self.partition_filter}" if self.partition_filter else ""
        return self.table.spark.sql(f"OPTIMIZE {self.table.ref}{where}")


@dataclass(frozen=True)
class SqlDeltaTable:
    """A Delta table named the way SQL names it (``delta.`<path>``` or ``catalog.schema.table``)."""

    spark: SparkSession
    ref: str
    alias_name: str = field(default="t")

    def alias(self, name: str) -> SqlDeltaTable:
        return replace(self, alias_name=name)

    def toDF(self) -> DataFrame:  # noqa: N802
        return self.spark.table(self.ref) if not self.ref.startswith("delta.`") else self.spark.sql(
            f"SELECT * FROM {self.ref}")

    def merge(self, source: DataFrame, condition: object) -> SqlMerge:
        return SqlMerge(self, source, _source_alias(source), _sql_text(condition, "a MERGE condition"))

    def update(self, condition: object, set: Mapping[str, object]) -> None:  # noqa: A002 (DeltaTable's name)
        assignments = ", ".join(f"`{k}` = {_sql_text(v, 'an UPDATE value')}" for k, v in set.items())
        self.spark.sql(f"UPDATE {self.ref} SET {assignments} WHERE {_sql_text(condition, 'an UPDATE condition')}").collect()

    def delete(self, condition: object = None) -> None:
        """``DELETE FROM``; a ``Column`` condition (erasure's, which holds the ids it removes)
        cannot become SQL text on a client, so its rows are deleted by a MERGE of the matching
        rows onto themselves (every column compared null-safe, maps by their JSON): the same
        rows, in one commit."""
        if isinstance(condition, Column):
            source = self.toDF().where(condition)
            same = " AND ".join(same_column(f) for f in source.schema.fields)
            self.alias("t").merge(source.alias("s"), same).whenMatchedDelete().execute()
            return
        where = f" WHERE {_sql_text(condition, 'a DELETE condition')}" if condition is not None else ""
        self.spark.sql(f"DELETE FROM {self.ref}{where}").collect()

    def history(self, limit: int | None = None) -> DataFrame:
        return self.spark.sql(f"DESCRIBE HISTORY {self.ref}" + (f" LIMIT {int(limit)}" if limit else ""))

    def detail(self) -> DataFrame:
        return self.spark.sql(f"DESCRIBE DETAIL {self.ref}")

    def vacuum(self, retentionHours: float | None = None) -> DataFrame:  # noqa: N803
        retain = f" RETAIN {float(retentionHours)} HOURS" if retentionHours is not None else ""
        return self.spark.sql(f"VACUUM {self.ref}{retain}")

    def optimize(self) -> SqlOptimize:
        return SqlOptimize(self)
