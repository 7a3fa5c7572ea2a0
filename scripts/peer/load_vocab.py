"""Load the project's vocabulary subset into dbt-synthea's vocabulary source tables (DuckDB).

Runs under ``.venv-peer`` (its DuckDB writes the file format the peer's dbt-duckdb reads), after
``dbt run-operation create_source_tables --args '{vocab_tables: true}'`` made the empty tables.
Upstream's ``load_data_duckdb`` macro expects Athena's tab-separated, ``YYYYMMDD``-dated files;
``data/vocabulary`` is comma-separated and ISO-dated, split into parts (``CONCEPT.csv.gz``,
``CONCEPT_synthea.csv.gz``, ...). Parts are read as mlhops reads them (docs/vocabulary.md): a
concept id in several parts is kept once, from the part that sorts first (the unsuffixed file
first); a relationship once per (concept_id_1, concept_id_2, relationship_id). That keeps the
mapping comparison apples to apples. dbt-synthea's own source_to_concept_map seed (two Synthea
unit strings) goes into ``source_to_concept_map_seed`` as upstream's ``dbt seed`` would.

Usage: .venv-peer/bin/python scripts/peer/load_vocab.py DB_FILE SCHEMA VOCAB_DIR STCM_CSV
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb


def _parts(vocab: Path, table: str) -> list[Path]:
    """The parts of one vocabulary table, the unsuffixed file first, then by name."""
    found = [p for p in vocab.iterdir()
             if p.name.upper().startswith(table) and p.name.endswith((".csv", ".csv.gz"))
             and (p.name.upper().split(".")[0] == table or p.name.upper().startswith(table + "_"))]
    return sorted(found, key=lambda p: (p.name.upper().split(".")[0] != table, p.name))


def _union(parts: list[Path]) -> str:
    return " UNION ALL ".join(
        f"SELECT *, {i} AS _part FROM read_csv('{p}', header=true, all_varchar=true)"
        for i, p in enumerate(parts))


def main(argv: list[str]) -> int:
    db, schema, vocab, stcm = argv[0], argv[1], Path(argv[2]), argv[3]
    con = duckdb.connect(db)
    concepts = _parts(vocab, "CONCEPT")
    # CONCEPT_RELATIONSHIP*, CONCEPT_ANCESTOR* ... also start with CONCEPT_: keep concept parts only.
    concepts = [p for p in concepts if not p.name.upper().startswith(
        ("CONCEPT_RELATIONSHIP", "CONCEPT_ANCESTOR", "CONCEPT_CLASS", "CONCEPT_SYNONYM"))]
    rels = _parts(vocab, "CONCEPT_RELATIONSHIP")
    con.execute(f"DELETE FROM {schema}.concept")
    con.execute(f"""
        INSERT INTO {schema}.concept
        SELECT CAST(concept_id AS INTEGER), concept_name, domain_id, vocabulary_id, concept_class_id,
               NULLIF(standard_concept, ''), concept_code, CAST(valid_start_date AS DATE),
               CAST(valid_end_date AS DATE), NULLIF(invalid_reason, '')
        FROM ({_union(concepts)})
        QUALIFY row_number() OVER (PARTITION BY concept_id ORDER BY _part) = 1""")
    con.execute(f"DELETE FROM {schema}.concept_relationship")
    con.execute(f"""
        INSERT INTO {schema}.concept_relationship
        SELECT CAST(concept_id_1 AS INTEGER), CAST(concept_id_2 AS INTEGER), relationship_id,
               CAST(valid_start_date AS DATE), CAST(valid_end_date AS DATE), NULLIF(invalid_reason, '')
        FROM ({_union(rels)})
        QUALIFY row_number() OVER (PARTITION BY concept_id_1, concept_id_2, relationship_id ORDER BY _part) = 1""")
    con.execute(f"DELETE FROM {schema}.source_to_concept_map_seed")
    con.execute(f"INSERT INTO {schema}.source_to_concept_map_seed SELECT * FROM read_csv('{stcm}', header=true)")
    n_c = con.execute(f"SELECT count(*) FROM {schema}.concept").fetchone()[0]
    n_r = con.execute(f"SELECT count(*) FROM {schema}.concept_relationship").fetchone()[0]
    print(f"vocabulary: {n_c} concepts from {len(concepts)} parts, {n_r} relationships from {len(rels)} parts")
    con.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
