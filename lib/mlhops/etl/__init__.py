"""Raw sources -> OMOP CDM v5.4: events, vocabulary mapping, de-identification, ids, quarantine."""
