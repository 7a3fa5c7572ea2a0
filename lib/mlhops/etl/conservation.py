"""Conservation accounting: per source table, rows read = loaded + quarantined + filtered."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


@dataclass(frozen=True)
class TableAccount:
    """Counts of one source table."""

    read: int
    loaded: int
    quarantined: int
    filtered: dict[str, int] = field(default_factory=dict)  # reason -> rows

    @property
    def filtered_total(self) -> int:
        return sum(self.filtered.values())

    @property
    def balanced(self) -> bool:
        return self.read == self.loaded + self.quarantined + self.filtered_total


@dataclass(frozen=True)
class Conservation:
    """Accounts of every source table of a run."""

    tables: dict[str, TableAccount]

    @property
    def balanced(self) -> bool:
        return all(t.balanced for t in self.tables.values())

    def unbalanced(self) -> list[str]:
        """Source tables whose counts do not add up."""
        return sorted(name for name, t in self.tables.items() if not t.balanced)

    def metrics(self) -> dict[str, float]:
        """Flat metrics: ``rows_read.<t>``, ``rows_loaded.<t>``, ``rows_quarantined.<t>``, ``rows_filtered.<t>``."""
        out: dict[str, float] = {}
        for name, t in sorted(self.tables.items()):
            out[f"rows_read.{name}"] = float(t.read)
            out[f"rows_loaded.{name}"] = float(t.loaded)
            out[f"rows_quarantined.{name}"] = float(t.quarantined)
            out[f"rows_filtered.{name}"] = float(t.filtered_total)
        return out


def _distinct_counts(df: DataFrame) -> dict[str, int]:
    rows = df.select("source_table", "source_file", "source_line").distinct().groupBy("source_table").count().collect()
    return {r["source_table"]: int(r["count"]) for r in rows}


def account(rows_read: dict[str, int], loaded: DataFrame, rejects: DataFrame, filtered: DataFrame) -> Conservation:
    """Count distinct source rows per outcome and source table.

    A row that was both loaded and rejected (which the loader never produces) would show up as
    an imbalance rather than be hidden.
    """
    n_loaded = _distinct_counts(loaded)
    n_rejected = _distinct_counts(rejects)
    by_reason: dict[str, dict[str, int]] = {}
    for r in filtered.groupBy("source_table", "reason").agg(F.countDistinct("source_file", "source_line").alias("n")).collect():
        by_reason.setdefault(r["source_table"], {})[r["reason"]] = int(r["n"])
    names = set(rows_read) | set(n_loaded) | set(n_rejected) | set(by_reason)
    return Conservation(
        tables={
            n: TableAccount(
                read=rows_read.get(n, 0),
                loaded=n_loaded.get(n, 0),
                quarantined=n_rejected.get(n, 0),
                filtered=by_reason.get(n, {}),
            )
            for n in sorted(names)
        }
    )
