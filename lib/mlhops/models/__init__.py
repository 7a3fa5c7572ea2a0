"""Model lifecycle: task labels, training, scoring, evaluation, fairness, shift, triggers, registry.

The math modules (``metrics``, ``bootstrap``, ``cbpe``, ``fairness``, ``label_shift``,
``concept_drift``, ``recalibration``, ``label_policy``, ``triggers``) are pure numpy and need no
Spark; the Spark modules (``labels``, ``training``, ``scoring``, ``evaluation``) build on them.
"""
