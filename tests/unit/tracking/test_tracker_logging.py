"""Creating the local MLflow stores keeps the run's logging: their migrations used to replace the
root logger's handlers and level, so every mlhops line after the first store creation (tracking
store) or the first registry call (the registry's own store) was lost; and their lines stay off
the terminal."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlhops.config.model import MlflowSettings
from mlhops.tracking.tracker import Tracker


@pytest.fixture
def run_log(tmp_path) -> Iterator[tuple[logging.FileHandler, Path]]:
    """The root logger writing only to a run's log file at DEBUG (as ``--log-file`` sets it up)."""
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    log_file = tmp_path / "run.log"
    handler = logging.FileHandler(log_file)
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG)
    try:
        yield handler, log_file
    finally:
        handler.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_log_lines_after_a_new_store_is_created_still_reach_the_run_log(tmp_path, run_log):
    handler, log_file = run_log
    tracker = Tracker(MlflowSettings(), environment="test", local_dir=str(tmp_path / "mlflow"))
    tracker.configure()
    assert (tmp_path / "mlflow" / "mlflow.db").exists()
    logging.getLogger("mlhops.test").info("store created")
    tracker.client().search_registered_models()  # what train, drift and promote do first
    logging.getLogger("mlhops.test").info("stage finished")
    handler.flush()
    root = logging.getLogger()
    assert handler in root.handlers and root.level == logging.DEBUG
    assert "store created" in log_file.read_text() and "stage finished" in log_file.read_text()


def test_a_new_stores_migration_lines_stay_off_the_terminal(tmp_path, run_log, capfd):
    # MLflow's Alembic migrations print some twenty INFO lines on stderr when a store is created;
    # after a CLI run's summary they buried it. They go to the DEBUG log instead.
    handler, log_file = run_log
    Tracker(MlflowSettings(), environment="test", local_dir=str(tmp_path / "mlflow")).configure()
    handler.flush()
    terminal = capfd.readouterr()
    assert "alembic" not in terminal.err and "Running upgrade" not in terminal.err
    assert "Running upgrade" in log_file.read_text()  # kept, at DEBUG, in the run's log
