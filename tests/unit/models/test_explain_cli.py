"""`mlhops explain` parses its arguments (the verb itself is thin: logic in models.explain)."""

from __future__ import annotations

import pytest

from mlhops.cli import build_parser
from mlhops.models.explain import Contribution, LocalExplanation, render_text


def test_explain_needs_a_visit_hash_and_defaults_to_the_champion():
    args = build_parser().parse_args(["explain", "--visit-hash", "ab12"])
    assert (args.verb, args.visit_hash, args.version, args.model, args.top_k) == ("explain", "ab12", "champion",
                                                                                  None, None)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["explain"])


def test_the_printed_explanation_lists_features_largest_first_with_missing_values_named():
    e = LocalExplanation("m", "3", "occlusion against the training reference", "probability", 0.42,
                         (Contribution("prior_inpatient", 4.0, 0.6, 0.12), Contribution("sex", None, "female", -0.01)))
    lines = render_text(e).splitlines()
    assert lines[0] == "m v3: score 0.4200; occlusion against the training reference (probability units)"
    assert lines[2].split() == ["prior_inpatient", "4", "0.6", "+0.1200"]
    assert lines[3].split() == ["sex", "missing", "female", "-0.0100"]
