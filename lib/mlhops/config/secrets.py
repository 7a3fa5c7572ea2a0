"""Secrets: the de-identification salt from an environment variable or a secret scope.

Kept apart from the notebook bootstrap (:mod:`mlhops.runtime`), which imports configuration;
configuration never imports the runtime.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from mlhops.config.model import Settings
from mlhops.errors import ConfigError

# Default development salt, accepted only where deid.allow_default_salt is true (local demo).
DEFAULT_DEV_SALT = "mlhops-local-development-salt-not-for-production"


def is_databricks() -> bool:
    """True inside a Databricks runtime (notebook or job)."""
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


def dbutils() -> Any:
    """Databricks ``dbutils`` when there is one, else None."""
    main = sys.modules.get("__main__")
    found = getattr(main, "dbutils", None)
    if found is None:
        try:
            from pyspark.dbutils import DBUtils  # type: ignore[import-not-found]
            from pyspark.sql import SparkSession

            found = DBUtils(SparkSession.getActiveSession())
        except Exception:  # noqa: BLE001 - not on Databricks
            return None
    return found


def read_secret(reference: str) -> str:
    """Read a secret given as ``scope/key`` (Databricks secret scope) or ``env:VAR``."""
    if reference.startswith("env:"):
        var = reference[4:]
        value = os.environ.get(var)
        if not value:
            raise ConfigError(f"secret {reference}: environment variable {var} is not set")
        return value
    scope, _, key = reference.partition("/")
    utils = dbutils()
    if utils is None or not key:
        raise ConfigError(f"secret {reference}: needs Databricks dbutils and the form scope/key")
    return str(utils.secrets.get(scope=scope, key=key))


def resolve_salt(settings: Settings) -> str:
    """The de-identification salt, from the env var or secret; refuses the default off-local."""
    salt = os.environ.get(settings.deid.salt_env)
    if salt is not None and not salt.strip():
        # Set but empty (a failed secret lookup in a cron line, an unexpanded variable): never
        # fall back to the development salt for it.
        raise ConfigError(f"${settings.deid.salt_env} is set but empty: set it to the warehouse's salt, or unset it")
    if not salt and settings.deid.salt_secret:
        salt = read_secret(settings.deid.salt_secret)
    if salt:
        if salt == DEFAULT_DEV_SALT and not settings.is_local:
            raise ConfigError(f"{settings.deid.salt_env}: the development salt is refused outside local")
        return salt
    if settings.deid.allow_default_salt and settings.is_local:
        return DEFAULT_DEV_SALT
    raise ConfigError(
        f"de-identification salt missing: set ${settings.deid.salt_env} "
        "or deid.salt_secret (the salt is never stored in YAML)"
    )
