"""One etl stage result for several exports of a source loaded one after another."""

from mlhops.etl.run import Summary, combine


def _summary(status, read, events, mapped, filtered):
    return Summary(status, "", {"rows_read": float(read), "mapping_rate.snomed": mapped / events},
                   {"layout": "synthea-3.3", "mapping": {"snomed": {"events": events, "mapped": mapped,
                                                                    "rate": mapped / events}},
                    "filtered": {"claims": {"not loaded": filtered}}})


def test_counts_add_up_and_mapping_rates_come_from_the_summed_events():
    out = combine("synthea-csv", [_summary("ok", 10, 10, 5, 3), _summary("alerts", 30, 30, 30, 4)])
    assert out.metrics["rows_read"] == 40.0
    assert out.metrics["mapping_rate.snomed"] == 35 / 40 == out.details["mapping"]["snomed"]["rate"]
    assert out.details["filtered"] == {"claims": {"not loaded": 7}}
    assert out.status == "alerts" and len(out.details["batches"]) == 2


def test_one_export_is_its_own_summary():
    one = _summary("ok", 10, 10, 5, 3)
    assert combine("synthea-csv", [one]) is one
