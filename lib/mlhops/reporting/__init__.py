"""Self-contained HTML monitoring report (inline CSS and PNG plots) and the model card."""
