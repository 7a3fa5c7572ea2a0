"""Drift detection. ``result.DriftResult`` is the one result shape; ``univariate`` computes the
per-feature tests from stored window statistics; the multivariate detectors live beside it.

Nothing is imported here, so importing one detector module does not pull in torch.
"""
