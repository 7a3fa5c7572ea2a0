"""Registered model names: one level on a workspace or local registry, three on Unity Catalog."""

from __future__ import annotations

from mlhops.config.model import MlflowSettings
from mlhops.errors import ConfigError

# Registry URIs of Unity Catalog (``databricks-uc`` or ``databricks-uc://<profile>``).
UC_REGISTRY_SCHEME = "databricks-uc"


def is_unity_catalog(settings: MlflowSettings) -> bool:
    """True when the configured registry is Unity Catalog."""
    uri = settings.registry_uri or ""
    return uri == UC_REGISTRY_SCHEME or uri.startswith(f"{UC_REGISTRY_SCHEME}:")


def registered_model_name(settings: MlflowSettings, name: str) -> str:
    """The name a model is registered under in the configured registry.

    On Unity Catalog a plain name becomes ``<uc_catalog>.<uc_schema>.<name>`` and an already
    three-level name is kept; elsewhere names are used as given.

    Raises:
        ConfigError: an empty name or level, or a name of two or four-plus levels on Unity Catalog.
    """
    if not name or any(not part for part in name.split(".")):
        raise ConfigError(f"registered model name {name!r} is empty or has an empty level")
    if not is_unity_catalog(settings):
        return name
    levels = name.count(".") + 1
    if levels == 3:
        return name
    if levels != 1:
        raise ConfigError(f"registered model name {name!r}: Unity Catalog names are catalog.schema.model")
    # MlflowSettings guarantees both on a databricks-uc registry.
    return f"{settings.uc_catalog}.{settings.uc_schema}.{name}"
