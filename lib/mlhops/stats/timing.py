"""Phase timings of a stats run, logged (``scripts/bench_stats.py`` reads these lines)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)


@contextmanager
def timed(phase: str) -> Iterator[None]:
    """Log how long one phase of a run took (``stats: <phase> took <s> s``)."""
    t0 = time.perf_counter()
    yield
    logger.info("stats: %s took %.2f s", phase, time.perf_counter() - t0)
