"""The checklist page marks a step evidenced only when the system's record exists (a fresh empty
warehouse vs the monitored UCI one); the model card carries every reporting item; the
explanation sections show both profiles."""

from __future__ import annotations

import re

import pytest

from mlhops.config.stages import ChecklistSettings
from mlhops.io import Catalog
from mlhops.pipelines.context import Context
from mlhops.reporting import checklist, model_card, model_sections
from mlhops.reporting.report import gather_checklist, write_report

TABLE_BACKED = {
    "Labelling (delayed labels, label requests)", "Fairness (subgroup metrics and gaps)",
    "Interpretability (global importance)", "Privacy / leakage testing (membership inference)",
    "Concept-drift monitoring", "Data drift monitoring", "Metrics with intervals", "Logging (every stage run recorded)",
    "Patient-level train / validation split", "Model versioning (registry, aliases)",
}


@pytest.fixture(scope="module")
def ctx(spark, monitored):
    return Context.build(monitored.settings, spark)


@pytest.fixture(scope="module")
def items(ctx):
    records = ChecklistSettings(ethics_review="REC ref 24/LO/0117, approved 2024-02-01")
    return {i.step: i for i in gather_checklist(ctx.spark, ctx.catalog, ctx.tracker, records)}


def test_a_fresh_warehouse_evidences_no_table_backed_step_and_records_nothing(spark, tmp_path):
    fresh = checklist.gather(spark, Catalog(str(tmp_path / "wh")), None, [], ChecklistSettings())
    by = {i.step: i for i in fresh}
    for step in TABLE_BACKED:
        assert by[step].status == checklist.NOT_EVIDENCED, step
    assert {i.status for i in fresh if i.area == "Organisation"} == {checklist.NOT_RECORDED}
    # The checkout's own tests and docs are evidence whatever the warehouse holds.
    assert by["Automated tests"].status == checklist.EVIDENCED and "tests/unit" in by["Automated tests"].evidence


def test_the_monitored_warehouse_evidences_its_records_by_name(items):
    for step in TABLE_BACKED:
        assert items[step].status == checklist.EVIDENCED, (step, items[step].evidence)
    assert "mlhops/model_importance has rows" in items["Interpretability (global importance)"].evidence
    assert "mlhops.membership_verdict" in items["Privacy / leakage testing (membership inference)"].evidence
    assert items["Hyper-parameter tuning"].status == checklist.NOT_EVIDENCED
    assert items["Ethics review"].status == checklist.RECORDED and "REC ref" in items["Ethics review"].evidence
    assert items["Clinical sign-off"].status == checklist.NOT_RECORDED


def test_the_markdown_export_is_written_beside_the_report_with_the_same_statuses(ctx, items, tmp_path):
    listed = list(items.values())
    html = checklist.render_html(listed)
    md = checklist.render_markdown(listed, run_id="chk-1")
    path = write_report("<html></html>", Catalog(str(tmp_path / "wh")), "chk-1", md)
    written = (path.parent / "checklist.md").read_text(encoding="utf-8")
    assert written == md and (path.parent / "checklist-chk-1.md").exists()
    for i in listed:
        assert f"| {i.step} | {i.status} |" in written.replace("&amp;", "&")
    assert html.count("<tr>") - 1 == len(listed)


def test_the_model_card_has_every_reporting_item(ctx, monitored):
    s = monitored.settings
    card = model_card.render(ctx.spark, ctx.catalog, ctx.tracker, s.report, s.models,
                             ChecklistSettings(target_population="adults admitted as inpatients"))
    headings = re.findall(r"<h3>(.*?)</h3>", card)
    assert headings == list(model_card.ITEMS)
    assert "adults admitted as inpatients" in card and "not recorded" in card
    privacy = card.split("<h3>Membership inference (privacy)</h3>")[1].split("<h3>")[0]
    assert "loss threshold" in privacy and "&nbsp;pass&nbsp;" in privacy
    importance = card.split("<h3>Global importance</h3>")[1].split("<h3>")[0]
    assert '<td class="num">1</td>' in importance  # rank 1 of each version


def test_the_importance_sections_show_the_profiles_and_their_drift(ctx, monitored):
    body = model_sections.importance(ctx.spark, ctx.catalog, ctx.tracker, top_k=5)
    assert 'alt="importance ' in body and "importance [CI]" in body
    drift = model_sections.importance_drift(ctx.spark, ctx.catalog, 0.5)
    assert "rank correlation" in drift and 'alt="importance drift"' in drift
