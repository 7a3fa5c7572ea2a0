"""OMOP CDM v5.4: schemas derived from the official specification, and vocabulary mapping."""
