import re
from pathlib import Path

import pytest

from mlhops.alerts.rules import at_or_above, load_rules
from mlhops.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]


def _anchors(md: Path) -> set[str]:
    heads = re.findall(r"^#+\s+(.+)$", md.read_text(encoding="utf-8"), flags=re.M)
    return {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def test_every_shipped_rule_names_an_existing_runbook_section():
    rules = load_rules(REPO / "conf" / "alerts.yaml")
    kinds = {r.kind for r in rules}
    assert kinds == {"drift", "multivariate_drift", "quality", "performance", "calibration", "fairness", "quarantine",
                     "concept_drift", "label_shift", "model_trigger", "label_request"}
    for r in rules:
        page, section = r.runbook.split("#")
        md = REPO / "docs" / "runbooks" / page
        assert md.is_file(), r.id
        assert section in _anchors(md), f"{r.id}: no section #{section} in {page}"


def test_duplicate_rule_ids_are_refused(tmp_path):
    f = tmp_path / "rules.yaml"
    rule = "  - {id: a, kind: quality, severity: low, runbook: quality.md#quality-check-failed}\n"
    f.write_text("rules:\n" + rule + rule)
    with pytest.raises(ConfigError, match="duplicate rule id"):
        load_rules(f)


def test_rule_without_runbook_section_is_refused(tmp_path):
    f = tmp_path / "rules.yaml"
    f.write_text("rules:\n  - {id: a, kind: quality, severity: low, runbook: quality.md}\n")
    with pytest.raises(ConfigError, match="runbook must name a section"):
        load_rules(f)


def test_unknown_rule_kind_is_refused(tmp_path):
    f = tmp_path / "rules.yaml"
    f.write_text("rules:\n  - {id: a, kind: vibes, severity: low, runbook: quality.md#x}\n")
    with pytest.raises(ConfigError, match="kind"):
        load_rules(f)


def test_severity_order():
    assert at_or_above("critical", "high") and at_or_above("high", "high")
    assert not at_or_above("medium", "high")
