"""The loader's steps, in the order :func:`mlhops.etl.loader.load_batch` runs them.

1. :mod:`~mlhops.etl.steps.references`: duplicates, unknown references, impossible dates.
2. :mod:`~mlhops.etl.steps.deid`: per-person date shift (identifiers are hashed where ids and
   source values are made).
3. :mod:`~mlhops.etl.steps.mapping`: source codes -> standard concepts and target tables.
4. :mod:`~mlhops.etl.steps.ids`: OMOP ids from ``mlhops.id_map`` (one sort, one MERGE).
5. :mod:`~mlhops.etl.steps.rows`: OMOP rows of every table.
6. :mod:`~mlhops.etl.steps.conformance`: conform to the CDM spec and MERGE.
7. :mod:`~mlhops.etl.steps.eras`: condition and drug eras over the merged tables.
8. :mod:`~mlhops.etl.steps.conservation`: quarantine and the row accounting.
9. :mod:`~mlhops.etl.steps.imaging`: MI-CDM rows of the loaded imaging procedures.

:mod:`~mlhops.etl.steps.cdm` loads an existing CDM export's typed rows instead of 1-8.
"""
