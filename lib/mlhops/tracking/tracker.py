"""The MLflow tracker of one run: configured once, passed in through the context.

Local default: a SQLite tracking + registry store at ``<warehouse>/mlflow/mlflow.db`` with
artifacts beside it, so the demo needs no server and model registry aliases work.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mlhops.config.model import MlflowSettings
from mlhops.tracking.naming import registered_model_name

logger = logging.getLogger(__name__)

# MLflow param values are capped at 6000 chars; keep params short and non-identifying.
MAX_PARAM_CHARS = 500


@contextlib.contextmanager
def root_logging_kept() -> Iterator[None]:
    """Restore the root logger's handlers and level afterwards.

    Creating a SQL store runs MLflow's Alembic migrations, whose ``fileConfig`` replaces the root
    logger's handlers (the run's log file included) and sets it to WARN: every mlhops line after
    the first store creation in a process was lost.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
        for h in handlers:
            if h not in root.handlers:
                root.addHandler(h)
        root.setLevel(level)


@contextlib.contextmanager
def store_migrations_to_debug() -> Iterator[None]:
    """Keep a new store's migration lines off the terminal: the console handler ``fileConfig``
    installs (on ``sys.stderr`` as it finds it) printed some twenty INFO lines of migrations after
    a CLI run's summary; they go to this module's DEBUG log instead (schema revisions, no data)."""
    store_logger = logging.getLogger("mlflow.store.db.utils")
    store_level = store_logger.level
    store_logger.setLevel(logging.WARNING)  # "Creating initial MLflow database tables..."
    migrations = io.StringIO()
    try:
        with contextlib.redirect_stderr(migrations):
            yield
    finally:
        store_logger.setLevel(store_level)
        for line in migrations.getvalue().splitlines():
            logger.debug("mlflow store: %s", line)


def safe_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Stringify and truncate params (callers must never pass patient values)."""
    return {str(k): str(v)[:MAX_PARAM_CHARS] for k, v in params.items() if v is not None}


class Tracker:
    """MLflow runs and registry client for one environment.

    Args:
        settings: the ``mlflow`` section.
        environment: tagged on every run.
        local_dir: store used when no tracking URI is configured (``<warehouse>/mlflow``).
    """

    def __init__(self, settings: MlflowSettings, *, environment: str, local_dir: str) -> None:
        self.settings = settings
        self.environment = environment
        self.local_dir = local_dir
        self._experiment_id: str | None = None

    def _uris(self) -> tuple[str, str, str | None]:
        tracking, artifacts = self.settings.tracking_uri, self.settings.artifact_location
        if not tracking:
            root = Path(self.local_dir)
            root.mkdir(parents=True, exist_ok=True)
            tracking, artifacts = f"sqlite:///{root / 'mlflow.db'}", (root / "artifacts").as_uri()
        return tracking, self.settings.registry_uri or tracking, artifacts

    def configure(self) -> str:
        """Point MLflow at the configured (or local) store; returns the experiment id.

        MLflow keeps its URIs and experiment process-wide, so they are re-applied on every use
        (two trackers in one process, as in tests and notebooks, never write into each other's
        store); the experiment is looked up (or created) once per tracker.
        """
        import mlflow
        from mlflow.tracking import MlflowClient

        tracking, registry, artifacts = self._uris()
        mlflow.set_tracking_uri(tracking)
        mlflow.set_registry_uri(registry)
        if self._experiment_id is None:
            os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
            logging.getLogger("alembic").setLevel(logging.WARNING)
            # A new store's migrations reconfigure logging and print to stderr (below); the
            # handlers come back first, so the captured lines reach the run's log.
            with store_migrations_to_debug(), root_logging_kept():
                exp = mlflow.get_experiment_by_name(self.settings.experiment)
                if exp is None:
                    exp_id = mlflow.create_experiment(self.settings.experiment, artifact_location=artifacts)
                else:
                    exp_id = exp.experiment_id
                # The model registry has a store of its own, created (and migrated) on its first
                # use: made here, where logging is restored after it, and cached by MLflow
                # thereafter. Else the first registry call of a run (train, drift) silenced the
                # run's log file for the rest of the run.
                MlflowClient(tracking_uri=tracking, registry_uri=registry).search_registered_models(max_results=1)
            self._experiment_id = str(exp_id)
        mlflow.set_experiment(experiment_id=self._experiment_id)
        return self._experiment_id

    def client(self) -> Any:
        """An ``MlflowClient`` on this tracker's tracking and registry stores."""
        from mlflow.tracking import MlflowClient

        self.configure()
        tracking, registry, _ = self._uris()
        return MlflowClient(tracking_uri=tracking, registry_uri=registry)

    def registered_name(self, name: str) -> str:
        """The registry's name for model ``name`` (three-level on Unity Catalog)."""
        return registered_model_name(self.settings, name)

    @contextlib.contextmanager
    def run(
        self,
        name: str,
        *,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        nested: bool = False,
    ) -> Iterator[Any]:
        """Open an MLflow run tagged with the environment and the mlhops stage."""
        import mlflow

        self.configure()
        all_tags = {"mlhops.environment": self.environment, "mlhops.stage": name}
        all_tags.update(tags or {})
        with mlflow.start_run(run_name=name, tags=all_tags, nested=nested) as run:
            if params:
                mlflow.log_params(safe_params(params))
            yield run
