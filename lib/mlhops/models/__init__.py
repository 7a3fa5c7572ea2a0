"""Model lifecycle: task labels, training, scoring, evaluation, fairness, shift, triggers, registry.

The math modules (``metrics``, ``bootstrap``, ``cbpe``, ``fairness``, ``label_shift``,
``concept_drift``, ``recalibration``, ``label_policy``, ``triggers``) are pure numpy and need no
Spark; the Spark modules (``labels``, ``training``, ``scoring``, ``evaluation``) build on them.
``assessment`` (one evaluation pass: rows of every output table), ``challengers`` (recalibration
policy and registration), ``lifecycle`` (when to train, registering, promote / rollback) and
``registry`` (MLflow, through the tracker passed in) are what the stage modules call; table
names and schemas live in :mod:`mlhops.io.tables.models`.
"""
