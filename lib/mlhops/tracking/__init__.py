"""MLflow runs and registry behind a small interface (the only package that configures MLflow)."""

from mlhops.tracking.tracker import Tracker, safe_params

__all__ = ["Tracker", "safe_params"]
