"""Build CONCEPT_synthea.csv.gz and CONCEPT_RELATIONSHIP_synthea.csv.gz (see README.md).

Selection, all from OHDSI vocabulary subsets that ship with OHDSI's own Synthea-derived OMOP data
sets (Apache-2.0):

1. the codes Synthea writes: (vocabulary, code) of every SNOMED, RxNorm, CVX and LOINC code in
   the clinical files of the Synthea CSV exports given with ``--population`` (conditions,
   procedures, allergies, devices, supplies, imaging_studies.PROCEDURE_CODE: SNOMED, or the
   file's SYSTEM column, drug allergies RxNorm; medications: RxNorm; immunizations: CVX;
   observations: LOINC);
2. the source concepts of those codes found in ``--concept`` files and not already in
   ``CONCEPT.csv.gz``;
3. their valid relationships of the kinds the ETL reads ("Maps to", "RxNorm has ing", "Consists
   of", "Tradename of", "Quantified form of") found in ``--relationship`` files and not already
   in ``CONCEPT_RELATIONSHIP.csv.gz``;
4. the target concepts of those relationships found in ``--concept`` files (again only the ones
   not already shipped).

Nothing is edited: rows are copied as the sources have them (columns in the CDM v5.4 order).
Run from the repository root::

    python data/vocabulary/make_synthea_subset.py \\
        --concept SRC/CONCEPT.csv --relationship SRC/CONCEPT_RELATIONSHIP.csv[.gz] ... \\
        --population ../shared/data/synthea330_ma300/csv ...
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONCEPT_COLUMNS = ["concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id",
                   "standard_concept", "concept_code", "valid_start_date", "valid_end_date", "invalid_reason"]
RELATIONSHIP_COLUMNS = ["concept_id_1", "concept_id_2", "relationship_id", "valid_start_date",
                        "valid_end_date", "invalid_reason"]
USED_RELATIONSHIPS = {"Maps to", "RxNorm has ing", "Consists of", "Tradename of", "Quantified form of"}
SYSTEMS = {"SNOMED-CT": "SNOMED", "SNOMED": "SNOMED", "http://snomed.info/sct": "SNOMED", "RxNorm": "RxNorm",
           "LOINC": "LOINC", "CVX": "CVX"}
# Synthea file -> (code column, vocabulary when the file has no SYSTEM column).
CODE_FILES = {
    "conditions": ("CODE", "SNOMED"), "procedures": ("CODE", "SNOMED"), "allergies": ("CODE", "SNOMED"),
    "devices": ("CODE", "SNOMED"), "supplies": ("CODE", "SNOMED"), "imaging_studies": ("PROCEDURE_CODE", "SNOMED"),
    "medications": ("CODE", "RxNorm"), "immunizations": ("CODE", "CVX"), "observations": ("CODE", "LOINC"),
}


def _rows(path: Path) -> Iterator[dict[str, str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            yield {k.lower(): (v or "") for k, v in row.items()}


def population_codes(folders: list[Path]) -> set[tuple[str, str]]:
    """(vocabulary_id, code) of every code in the clinical files of the Synthea exports."""
    codes: set[tuple[str, str]] = set()
    for folder in folders:
        for table, (column, file_default) in CODE_FILES.items():
            for path in sorted(folder.glob(f"{table}.csv*")):
                for row in _rows(path):
                    default = file_default
                    code = row.get(column.lower(), "").strip()
                    if table == "allergies" and row.get("category", "").lower() == "medication":
                        default = "RxNorm"  # as the ETL reads allergies whose SYSTEM is Unknown
                    vocab = SYSTEMS.get(row.get("system", ""), default)
                    if code:
                        codes.add((vocab, code))
    return codes


def _write(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    # mtime 0 and no file name: the same rows give the same bytes.
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buf.getvalue().encode("utf-8"))


def build(concept_files: list[Path], rel_files: list[Path], populations: list[Path], out_dir: Path) -> tuple[int, int]:
    """Write the two files; returns (concept rows, relationship rows)."""
    shipped_ids = {r["concept_id"] for r in _rows(out_dir / "CONCEPT.csv.gz")}
    shipped_rels = {(r["concept_id_1"], r["concept_id_2"], r["relationship_id"])
                    for r in _rows(out_dir / "CONCEPT_RELATIONSHIP.csv.gz")}
    concepts: dict[str, dict[str, str]] = {}
    for path in concept_files:
        for r in _rows(path):
            concepts.setdefault(r["concept_id"], r)
    codes = population_codes(populations)
    sources = {cid for cid, r in concepts.items() if (r["vocabulary_id"], r["concept_code"]) in codes}
    rels: dict[tuple[str, str, str], dict[str, str]] = {}
    for path in rel_files:
        for r in _rows(path):
            key = (r["concept_id_1"], r["concept_id_2"], r["relationship_id"])
            if (r["concept_id_1"] in sources and r["relationship_id"] in USED_RELATIONSHIPS
                    and not r["invalid_reason"] and key not in shipped_rels):
                rels.setdefault(key, r)
    targets = {k[1] for k in rels} & set(concepts)
    keep = sorted((sources | targets) - shipped_ids, key=int)
    _write(out_dir / "CONCEPT_synthea.csv.gz", CONCEPT_COLUMNS, [concepts[c] for c in keep])
    rel_rows = [rels[k] for k in sorted(rels, key=lambda k: (int(k[0]), int(k[1]), k[2]))]
    rel_path = out_dir / "CONCEPT_RELATIONSHIP_synthea.csv.gz"
    if rel_rows:
        _write(rel_path, RELATIONSHIP_COLUMNS, rel_rows)
    else:
        rel_path.unlink(missing_ok=True)  # nothing to add: no empty part
    return len(keep), len(rel_rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--concept", type=Path, action="append", required=True)
    p.add_argument("--relationship", type=Path, action="append", required=True)
    p.add_argument("--population", type=Path, action="append", required=True)
    p.add_argument("--out", type=Path, default=HERE)
    a = p.parse_args()
    n_c, n_r = build(a.concept, a.relationship, a.population, a.out)
    print(f"CONCEPT_synthea.csv.gz: {n_c} rows; CONCEPT_RELATIONSHIP_synthea.csv.gz: {n_r} rows (written only when > 0)")


if __name__ == "__main__":
    main()
