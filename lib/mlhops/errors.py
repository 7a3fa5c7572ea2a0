"""Exception hierarchy. Messages name what failed and where, never patient values."""


class MLHOpsError(Exception):
    """Base class of every error mlhops raises on purpose."""


class ConfigError(MLHOpsError):
    """Invalid or unknown configuration (exit code 2)."""


class SchemaError(MLHOpsError):
    """A table or file does not have the expected columns or types."""


class DataQualityError(MLHOpsError):
    """Input data cannot be processed at all (rows that can be are quarantined instead)."""


class InsufficientDataError(DataQualityError):
    """Too little data for a statistically meaningful result (a result, not a pipeline failure)."""


class StageError(MLHOpsError):
    """A pipeline stage failed; carries the stage name."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"stage {stage}: {message}")
        self.stage = stage
