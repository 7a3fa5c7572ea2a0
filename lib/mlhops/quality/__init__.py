"""Data quality: the declared completeness, conformance and plausibility checks (``checks``,
``rules``) and the run that applies them to the OMOP tables per window (``runner``)."""
