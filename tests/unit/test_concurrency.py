"""run_all: independent steps side by side, results in order, failures after everyone finished."""

import threading
from contextvars import ContextVar

import pytest

from mlhops.concurrency import run_all

TAG: ContextVar[str] = ContextVar("TAG", default="none")


@pytest.mark.parametrize("concurrent", [1, 3])
def test_results_come_back_in_step_order_and_see_the_callers_context(concurrent):
    TAG.set("caller")
    steps = [lambda i=i: (i, TAG.get()) for i in range(5)]
    assert run_all(steps, concurrent) == [(i, "caller") for i in range(5)]


def test_steps_overlap_when_concurrent():
    both_started = threading.Barrier(2, timeout=5)
    # one after another, the first wait would time out (BrokenBarrierError)
    assert sorted(run_all([both_started.wait, both_started.wait], 2)) == [0, 1]


def test_a_failure_is_raised_after_the_other_steps_finished():
    finished = []

    def slow_ok():
        threading.Event().wait(0.2)
        finished.append("ok")

    def fails():
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_all([fails, slow_ok], 2)
    assert finished == ["ok"]
