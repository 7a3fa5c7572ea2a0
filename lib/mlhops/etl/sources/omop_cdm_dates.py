"""Date shifting of an OMOP CDM export (``deid.date_shift_max_days``), as every other source has it.

An export's dates are the patients' real dates. Every date and datetime column of a table that
has a ``person_id`` moves by that person's shift (:meth:`mlhops.etl.deid.Deidentifier.shift_days`
of the person's export key, ``omop|person|<person_id>``, the key the id map hashes), so one
person's visits, events, eras, periods and death move together and every interval between them
is kept. ``person``'s birth moves too: ``birth_datetime``, and the year, month and day of birth
from the shifted birth date (month and day only where the export gave them; Safe Harbor then keeps
the year alone, :mod:`mlhops.etl.steps.safe_harbor`).

Not shifted: tables without a person (``cdm_source``/``metadata`` release dates, vocabulary
validity, ``note_nlp`` processing dates, cohort tables, whose ``subject_id`` need not be a person).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mlhops.etl.deid import Deidentifier, shift_ts
from mlhops.etl.sources.omop_cdm_ids import ENTITY_SPACES, export_key
from mlhops.omop import schema as cdm

_SHIFT = "_date_shift_days"


def person_key(person_id: Column) -> Column:
    """The export person's key as the id map hashes it (``omop|person|<value>``)."""
    return export_key(F.lit(ENTITY_SPACES["person"][1]), person_id)


def _shifted_birth(frame: DataFrame) -> DataFrame:
    """``person`` with birth_datetime and year/month/day of birth moved by the row's shift."""
    given = F.coalesce(
        F.to_date("birth_datetime"),
        F.make_date(F.col("year_of_birth"), F.coalesce(F.col("month_of_birth"), F.lit(1)),
                    F.coalesce(F.col("day_of_birth"), F.lit(1))),
    )
    moved = F.date_add(given, F.col(_SHIFT))
    return (frame
            .withColumn("year_of_birth", F.when(moved.isNotNull(), F.year(moved)).otherwise(F.col("year_of_birth")))
            .withColumn("month_of_birth", F.when(F.col("month_of_birth").isNotNull(), F.month(moved)))
            .withColumn("day_of_birth", F.when(F.col("day_of_birth").isNotNull(), F.dayofmonth(moved))))


def shift_person_dates(deid: Deidentifier, table: str, frame: DataFrame) -> DataFrame:
    """``frame`` (one export table, typed, ``person_id`` still the export's value) with its
    dates shifted per person; unchanged when shifting is off or the table has no person."""
    if deid.max_shift_days <= 0 or "person_id" not in frame.columns:
        return frame
    out = frame.withColumn(_SHIFT, deid.shift_days(person_key(F.col("person_id"))))
    if table == "person":
        out = _shifted_birth(out)  # before birth_datetime moves: it is the birth date read
    for spec in cdm.fields(table):
        if spec.name not in out.columns:
            continue
        kind = spec.spark_type.simpleString()
        if kind == "date":
            out = out.withColumn(spec.name, F.date_add(F.col(spec.name), F.col(_SHIFT)))
        elif kind == "timestamp":
            out = out.withColumn(spec.name, shift_ts(F.col(spec.name), F.col(_SHIFT)))
    return out.drop(_SHIFT)
