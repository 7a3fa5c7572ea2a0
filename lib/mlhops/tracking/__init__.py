"""MLflow runs and registry behind a small interface (the only module that configures MLflow)."""

from mlhops.tracking.mlflow_store import configure_mlflow, mlflow_run, safe_params

__all__ = ["configure_mlflow", "mlflow_run", "safe_params"]
