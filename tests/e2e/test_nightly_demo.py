"""`mlhops nightly` on the shipped sample: runs end to end, and a second run changes nothing."""

import re

from mlhops.io import Catalog, read_table
from mlhops.io.tables.core import RUNS, WRITER_LEASE
from mlhops.pipelines import nightly_stages

REPORT_SECTIONS = ("alerts", "pipeline", "etl", "quality", "drift", "multivariate", "performance", "calibration",
                   "fairness", "model-monitoring", "importance", "importance-drift", "model-card", "checklist")


def test_nightly_runs_every_stage_without_failure(demo_warehouse, spark):
    first, second = demo_warehouse["exit_codes"]
    assert first in (0, 3) and second in (0, 3)
    runs = read_table(spark, Catalog(str(demo_warehouse["warehouse"])), RUNS)
    statuses = {r.stage: r.status for r in runs.where("run_id = 'demo-1'").collect()}
    assert set(statuses) == set(nightly_stages())
    assert not [s for s, st in statuses.items() if st == "failed"]


def test_second_run_changes_no_table_and_raises_no_new_alert(demo_warehouse, spark):
    before, after = demo_warehouse["versions"]
    changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
    # the run log records the second run and the writer lease its claim and release; every data
    # table stays at its version
    assert set(changed) <= {RUNS, WRITER_LEASE}, changed
    runs = read_table(spark, Catalog(str(demo_warehouse["warehouse"])), RUNS)
    alerts_stage = runs.where("run_id = 'demo-2' AND stage = 'alerts'").first()
    assert alerts_stage.metrics["alerts_new"] == 0.0
    assert demo_warehouse["exit_codes"][0] == demo_warehouse["exit_codes"][1]


def test_report_renders_in_headless_chromium_with_its_plots(demo_warehouse):
    from tests.support.browser import render_probe

    report = demo_warehouse["warehouse"] / "reports" / "report-demo-1.html"
    html = report.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html  # self-contained: no network needed
    probe = render_probe(report)
    assert probe["broken"] == 0
    # every section the report builds is laid out by the browser (alerts ... model card)
    sections = re.findall(r'<section id="([^"]+)">', html)
    assert sections == list(REPORT_SECTIONS) and probe["sections"] == len(REPORT_SECTIONS)
    # every plot embedded in the file is decoded and shown by the browser
    assert probe["plots"] == html.count('<img class="plot"') >= 1
