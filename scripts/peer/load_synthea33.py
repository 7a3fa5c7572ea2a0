"""Load the two Synthea 3.3 files whose columns differ from the 3.0 layout dbt-synthea expects.

Runs under ``.venv-peer``; (re)creates the two tables with the 3.0 columns and types. dbt-synthea
(b948686) supports Synthea 3.0.0 only; the populations here are 3.3.0. Every other file holds all
the 3.0 columns (3.3 adds some, which upstream's ``load_data_duckdb`` ignores), so those go through
that macro unchanged. These two cannot:

- payer_transitions: 3.3 renamed START_YEAR/END_YEAR to START_DATE/END_DATE (now full timestamps)
  and OWNERSHIP/OWNERNAME to PLAN_OWNERSHIP/OWNER_NAME;
- providers: 3.3 split UTILIZATION into ENCOUNTERS and PROCEDURES; UTILIZATION is read from
  ENCOUNTERS (3.0 counted encounters there). No OMOP column of dbt-synthea reads it.

Usage: .venv-peer/bin/python scripts/peer/load_synthea33.py DB_FILE SCHEMA CSV_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

# 3.0 column <- expression over the 3.3 file's columns
SHIMS: dict[str, dict[str, str]] = {
    "payer_transitions": {
        "PATIENT": "PATIENT", "MEMBERID": "MEMBERID",
        "START_YEAR": "CAST(START_DATE AS TIMESTAMPTZ)", "END_YEAR": "CAST(END_DATE AS TIMESTAMPTZ)",
        "PAYER": "PAYER", "SECONDARY_PAYER": "SECONDARY_PAYER",
        "OWNERSHIP": "PLAN_OWNERSHIP", "OWNERNAME": "OWNER_NAME",
    },
    "providers": {
        "Id": "Id", "ORGANIZATION": "ORGANIZATION", "NAME": "NAME", "GENDER": "GENDER",
        "SPECIALITY": "SPECIALITY", "ADDRESS": "ADDRESS", "CITY": "CITY", "STATE": "STATE", "ZIP": "ZIP",
        "LAT": "CAST(LAT AS FLOAT)", "LON": "CAST(LON AS FLOAT)", "UTILIZATION": "CAST(ENCOUNTERS AS FLOAT)",
    },
}


def main(argv: list[str]) -> int:
    db, schema, src = argv[0], argv[1], Path(argv[2])
    con = duckdb.connect(db)
    for table, cols in SHIMS.items():
        select = ", ".join(f"{expr} AS \"{name}\"" for name, expr in cols.items())
        con.execute(f"CREATE OR REPLACE TABLE {schema}.{table} AS SELECT {select} "
                    f"FROM read_csv('{src / (table + '.csv')}', header=true, quote='', all_varchar=true)")
    con.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
