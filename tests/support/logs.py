"""Capture what mlhops logs during a block (tests that check no patient value reaches a log)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def captured_mlhops_log(fmt: str | None = None) -> Iterator[io.StringIO]:
    """Every ``mlhops`` log record (DEBUG and up) written inside the block, into the yielded buffer."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    if fmt:
        handler.setFormatter(logging.Formatter(fmt))
    log = logging.getLogger("mlhops")
    old = log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        yield buf
    finally:
        log.removeHandler(handler)
        log.setLevel(old)
