"""Independent Spark jobs from driver threads.

Spark schedules the jobs of several driver threads together, so running independent writes or
reads side by side overlaps each one's driver-side work (planning, Delta log, small-task
scheduling) with the others' tasks. Used by the ETL (files read, OMOP tables written) and by the
nightly statistics increment (its three commits).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")


def run_all(steps: Sequence[Callable[[], T]], concurrent: int, name: str = "mlhops-job") -> list[T]:
    """The results of ``steps``, in their order, at most ``concurrent`` at a time.

    Each step runs in a copy of the caller's context (context variables such as the ETL's open
    input cache are seen). With ``concurrent`` <= 1 the steps run one after another in this
    thread; otherwise every step finishes before the first failure is raised.
    """
    if concurrent <= 1 or len(steps) <= 1:
        return [step() for step in steps]
    with ThreadPoolExecutor(max_workers=min(concurrent, len(steps)), thread_name_prefix=name) as pool:
        futures = [pool.submit(contextvars.copy_context().run, step) for step in steps]
        wait(futures)
    return [f.result() for f in futures]
