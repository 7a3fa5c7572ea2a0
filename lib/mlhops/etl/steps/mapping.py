"""Loader step 3: source codes -> standard concepts and target tables, with mapping rates."""

from __future__ import annotations

from pyspark.sql import DataFrame

from mlhops.etl.mapping import map_events, mapping_rates
from mlhops.etl.vocabulary import Vocabulary


def map_vocabulary(events: DataFrame, vocab: Vocabulary) -> tuple[DataFrame, dict[str, dict[str, float]]]:
    """(mapped events, materialised; mapping rate and event count per source vocabulary)."""
    mapped = map_events(events, vocab).localCheckpoint(eager=True)
    return mapped, mapping_rates(mapped)
