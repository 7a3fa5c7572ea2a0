"""Safe Harbor generalisation of OMOP person and location rows (one step for every source)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from mlhops.etl.steps.safe_harbor import RESTRICTED_ZIP3, generalise_location, generalise_person, latest_date

PERSON = ("person_id long, year_of_birth int, month_of_birth int, day_of_birth int, birth_datetime timestamp")


def test_birth_keeps_the_year_and_every_person_over_89_reads_as_90_at_the_latest_date(spark):
    latest = dt.date(2024, 5, 1)
    rows = [
        (1, 1934, 5, 2, dt.datetime(1934, 5, 2)),  # 89 on 2024-05-01 (90 the next day): kept
        (2, 1934, 4, 30, dt.datetime(1934, 4, 30)),  # 90: grouped (same year)
        (3, 1921, 1, 1, None),  # 103 by month/day: grouped
        (4, 1925, None, None, None),  # 99 by year: grouped
        (5, 1990, 2, 30, None),  # impossible day: aged by year, kept
    ]
    out = generalise_person(spark.createDataFrame(rows, PERSON), latest).orderBy("person_id").collect()
    assert [r["year_of_birth"] for r in out] == [1934, 1934, 1934, 1934, 1990]
    assert all(r["month_of_birth"] is None and r["day_of_birth"] is None and r["birth_datetime"] is None for r in out)


def test_without_a_dated_row_nobody_is_grouped_but_birth_is_still_the_year(spark):
    out = generalise_person(spark.createDataFrame([(1, 1900, 3, 4, None)], PERSON), None).first()
    assert out is not None and (out["year_of_birth"], out["month_of_birth"]) == (1900, None)


def test_location_keeps_state_and_zip3_with_restricted_areas_as_000(spark):
    rows = [(1, "1 Main St", "Boston", "MA", "02115-1234", "Suffolk", 42.3, -71.1),
            (2, None, "Laramie", "WY", "82301", None, None, None),
            (3, None, None, "NY", "ZIP?", None, None, None)]
    loc = spark.createDataFrame(rows, "location_id long, address_1 string, city string, state string, zip string, "
                                      "county string, latitude double, longitude double")
    out = generalise_location(loc).orderBy("location_id").collect()
    assert [(r["state"], r["zip"]) for r in out] == [("MA", "021"), ("WY", "000"), ("NY", None)]
    assert all(r[c] is None for r in out for c in ("address_1", "city", "county", "latitude", "longitude"))
    assert len(RESTRICTED_ZIP3) == 17


def test_latest_date_is_the_latest_of_all_dated_frames(spark):
    a = spark.createDataFrame([(dt.datetime(2020, 1, 1, 10),)], "ts timestamp")
    b = spark.createDataFrame([(dt.date(2021, 6, 1),), (None,)], "d date")
    assert latest_date([(a, "ts"), (b, "d"), (a.where(F.lit(False)), "ts")]) == dt.date(2021, 6, 1)
    assert latest_date([(a.where(F.lit(False)), "ts")]) is None
