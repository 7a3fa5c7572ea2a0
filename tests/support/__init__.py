"""Helpers of the tests and scripts that the product does not ship (headless Chromium)."""
