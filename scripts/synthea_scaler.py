"""Scale a Synthea CSV export by copying it with fresh ids and shifted dates (benchmark inputs).

Used by ``scripts/bench_etl.py`` and ``scripts/bench_peer.py``, so both ETL benchmarks scale a
population the same way. Copy ``k`` (0-based) of the export gets fresh patient/encounter/claim/...
ids (each UUID rewritten to ``uuid5(OID, "k:<old id>")``) and every date shifted by ``k`` days;
copy 0 is the export itself. Organisations, providers and payers are reference data shared by all
copies, as in a real export, so they are written once. The result is a bigger population whose
rows are not duplicates of each other (no engine can deduplicate its way to a faster run), with
the same code mix and the same per-patient shape at every size, which is what a throughput curve
needs.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import uuid
from pathlib import Path

# Files whose Id column names an entity that must be fresh in every copy.
ENTITY_FILES = {"patients": "Id", "encounters": "Id", "claims": "Id", "claims_transactions": "ID",
                "careplans": "Id", "imaging_studies": "Id"}
# Files shared by all copies (written once).
REFERENCE_FILES = {"organizations", "providers", "payers"}
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(.*)$")


def fresh_ids(src: Path, copy: int) -> dict[str, str]:
    """Old id -> the id it has in copy ``copy``, for every entity id of the export."""
    mapping: dict[str, str] = {}
    for name, col in ENTITY_FILES.items():
        path = src / f"{name}.csv"
        if path.exists():
            with open(path, newline="", encoding="utf-8") as fh:
                for row in csv.DictReader(fh):
                    mapping[row[col]] = str(uuid.uuid5(uuid.NAMESPACE_OID, f"{copy}:{row[col]}"))
    return mapping


def shift(value: str, days: int) -> str:
    """``value`` with a leading ISO date moved by ``days`` (time/zone suffix kept); other values unchanged."""
    if not days:
        return value
    m = _DATE.match(value)
    if not m:
        return value
    try:
        d = dt.date.fromisoformat(m.group(1)) + dt.timedelta(days=days)
    except ValueError:
        return value
    return d.isoformat() + m.group(2)


def scale(src: Path, dst: Path, copies: int) -> int:
    """Write ``copies`` copies of the Synthea export in ``src`` into ``dst``.

    Returns:
        The data rows written (all files, headers not counted).
    """
    dst.mkdir(parents=True, exist_ok=True)
    total = 0
    maps = [fresh_ids(src, k) if k else {} for k in range(copies)]
    for f in sorted(src.glob("*.csv")):
        with open(f, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            rows = list(reader)
        with open(dst / f.name, "w", newline="", encoding="utf-8") as out:
            w = csv.writer(out, lineterminator="\n")
            w.writerow(header)
            for k in range(copies if f.stem not in REFERENCE_FILES else 1):
                ids = maps[k]
                if not k:
                    w.writerows(rows)
                else:
                    for r in rows:
                        w.writerow([shift(ids.get(v, v), k) for v in r])
                total += len(rows)
    return total
