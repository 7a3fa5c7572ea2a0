"""Erasure of persons on request (``mlhops erase``): plan, apply, verify.

:mod:`~mlhops.erasure.keys` turns a source's patient ids into the natural keys the ETL hashed,
:mod:`~mlhops.erasure.plan` finds every row of those persons (OMOP, platform tables, detector
references) and the model versions trained on them, :mod:`~mlhops.erasure.apply` deletes, purges
old file versions and flags the models, :mod:`~mlhops.erasure.verify` searches every table's
current rows and data files for what is left, and :mod:`~mlhops.erasure.run` does it all under
the warehouse writer lease and records it in ``mlhops.erasures``.
"""
