"""Feature rows from the OMOP tables: declared specs (``spec``), one row per visit (``build``),
and the incremental rebuild of the visits a run touched (``incremental``)."""
