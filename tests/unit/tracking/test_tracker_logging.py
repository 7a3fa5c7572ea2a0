"""Creating the local MLflow stores keeps the run's logging: their migrations used to replace the
root logger's handlers and level, so every mlhops line after the first store creation (tracking
store) or the first registry call (the registry's own store) was lost."""

from __future__ import annotations

import logging

from mlhops.config.model import MlflowSettings
from mlhops.tracking.tracker import Tracker


def test_log_lines_after_a_new_store_is_created_still_reach_the_run_log(tmp_path):
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    log_file = tmp_path / "run.log"
    handler = logging.FileHandler(log_file)
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    try:
        tracker = Tracker(MlflowSettings(), environment="test", local_dir=str(tmp_path / "mlflow"))
        tracker.configure()
        assert (tmp_path / "mlflow" / "mlflow.db").exists()
        logging.getLogger("mlhops.test").info("store created")
        tracker.client().search_registered_models()  # what train, drift and promote do first
        logging.getLogger("mlhops.test").info("stage finished")
        handler.flush()
        assert root.handlers == [handler] and root.level == logging.INFO
        assert "store created" in log_file.read_text() and "stage finished" in log_file.read_text()
    finally:
        handler.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
