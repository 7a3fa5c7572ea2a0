"""SQL literals of Python values: what MERGE bounds and lease conditions put into SQL text (a
Spark Connect session takes conditions only as text)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from mlhops.io.delta_sql import sql_literal


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        (42, "42"),
        (-7, "-7"),
        (Decimal("1.50"), "1.50"),
        (0.25, "0.25D"),
        (True, "true"),
        ("2", "'2'"),
        ("O'Brien", "'O\\'Brien'"),
        ("a\\b", "'a\\\\b'"),
        (dt.date(2024, 2, 29), "DATE '2024-02-29'"),
        (dt.datetime(2024, 2, 29, 13, 5, 0), "TIMESTAMP '2024-02-29 13:05:00'"),
    ],
)
def test_a_value_becomes_its_spark_sql_literal(value, literal):
    assert sql_literal(value) == literal


def test_a_value_without_a_literal_form_is_refused():
    with pytest.raises(TypeError, match="no SQL literal for a list"):
        sql_literal([1, 2])
