"""Small DataFrame helpers shared by every stage."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame


def union_all(frames: Sequence[DataFrame]) -> DataFrame:
    """``unionByName`` of one or more frames, as a balanced tree: a plan ``log2(n)`` unions deep,
    not ``n``. A Spark Connect plan travels as nested protobuf messages, which stop parsing past
    100 levels: a chain of a few dozen frames (an ETL's rejects, a quality run's checks) passes it.

    Raises:
        ValueError: no frames.
    """
    if not frames:
        raise ValueError("union_all needs at least one frame")
    level = list(frames)
    while len(level) > 1:
        level = [a.unionByName(b) for a, b in zip(level[::2], level[1::2])] + (level[-1:] if len(level) % 2 else [])
    return level[0]
