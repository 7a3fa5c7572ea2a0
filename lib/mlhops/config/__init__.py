"""Configuration: ``conf/base.yaml`` + an environment overlay, validated into frozen dataclasses."""

from mlhops.config.loader import load_settings
from mlhops.config.model import Settings

__all__ = ["Settings", "load_settings"]
