"""Loader step 2: de-identification of dates, one shift per person for every table of that
person, and of free text: the events' free-text columns of every source pass
:func:`mlhops.etl.redact.redact_events` (identifiers are replaced by ids and keyed pseudonyms in
steps 4-5; birth dates, old ages and geography are generalised in step 5,
:mod:`mlhops.etl.steps.safe_harbor`)."""

from __future__ import annotations

from dataclasses import replace

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mlhops.etl.deid import Deidentifier, shift_ts
from mlhops.etl.redact import redact_events
from mlhops.etl.steps.references import Entities


def _shift(df: DataFrame, deid: Deidentifier, cols: list[str]) -> DataFrame:
    df = deid.with_shift(df, "person_key", "_shift")
    for c in cols:
        df = df.withColumn(c, shift_ts(F.col(c), F.col("_shift")))
    return df.drop("_shift")


def shift_dates(entities: Entities, deid: Deidentifier) -> Entities:
    """Every timestamp of persons, visits, events and payer periods shifted by the person's days;
    identifier patterns redacted in the events' free text."""
    return replace(
        entities,
        persons=_shift(entities.persons, deid, ["birth_ts", "death_ts"]),
        visits=_shift(entities.visits, deid, ["start_ts", "end_ts"]),
        events=redact_events(_shift(entities.events, deid, ["start_ts", "end_ts"])),
        payer_periods=_shift(entities.payer_periods, deid, ["start_ts", "end_ts"]),
    )
