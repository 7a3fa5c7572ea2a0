"""Loader step: quarantine the rejected rows and account for every source row
(rows read = loaded + quarantined + filtered, per source table)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession

from mlhops.frames import union_all
from mlhops.errors import DataQualityError
from mlhops.etl import checks
from mlhops.etl.batch import LoadResult, SourceBatch
from mlhops.etl.conservation import Conservation, account
from mlhops.etl.quarantine import quarantine_rows, write_quarantine
from mlhops.io import Catalog, table_version
from mlhops.io.tables.etl import ID_MAP, QUARANTINE


@dataclass
class Ledger:
    """Lineage of the rows of a batch by outcome, collected as the steps run."""

    rejects: list[DataFrame] = field(default_factory=list)
    filtered: list[DataFrame] = field(default_factory=list)
    loaded: list[DataFrame] = field(default_factory=list)

    @classmethod
    def of(cls, batch: SourceBatch) -> Ledger:
        """A ledger starting with the rows the source itself rejected or filtered."""
        return cls(rejects=[batch.rejects], filtered=[batch.filtered])

    def checked(self, flagged: DataFrame) -> DataFrame:
        """Materialise a flagged frame once; returns its kept rows, records its rejects/filtered."""
        kept, bad, dropped = checks.split(flagged.localCheckpoint(eager=True))
        self.rejects.append(bad)
        self.filtered.append(dropped)
        return kept


def quarantine_and_account(catalog: Catalog, batch: SourceBatch, ledger: Ledger, run_id: str) -> Conservation:
    """MERGE the batch's rejects into ``mlhops.quarantine``; count every source row's outcome."""
    all_rejects = union_all(ledger.rejects).localCheckpoint(eager=True)
    write_quarantine(quarantine_rows(all_rejects, run_id=run_id, source=batch.source, files=batch.input_files), catalog)
    return account(batch.rows_read, union_all(ledger.loaded), all_rejects, union_all(ledger.filtered))


def record_platform_tables(spark: SparkSession, catalog: Catalog, result: LoadResult) -> None:
    """Add the quarantine and id-map versions to ``result.tables``."""
    version = table_version(spark, catalog, QUARANTINE)
    if version is not None:
        result.tables[QUARANTINE] = version
    result.tables[ID_MAP] = table_version(spark, catalog, ID_MAP) or 0


def require_balanced(conservation: Conservation, what: str = "conservation does not balance for") -> None:
    """Raise when a source table's rows do not add up.

    Raises:
        DataQualityError: a row was lost or counted twice (a bug, never data).
    """
    if not conservation.balanced:
        raise DataQualityError(f"{what} {conservation.unbalanced()}")
