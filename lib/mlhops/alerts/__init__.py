"""Alert rules (YAML) -> ``mlhops/alerts`` (deduplicated), exit code, optional webhook."""
