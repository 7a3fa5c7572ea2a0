"""Which files of a vocabulary folder are parts of CONCEPT and CONCEPT_RELATIONSHIP (no Spark)."""

from __future__ import annotations

from mlhops.etl.vocabulary import table_parts

FOLDER = [
    "file:/v/CONCEPT_dicom.csv.gz", "file:/v/CONCEPT.csv.gz", "file:/v/CONCEPT_synthea.csv.gz",
    "file:/v/CONCEPT_RELATIONSHIP.csv.gz", "file:/v/CONCEPT_RELATIONSHIP_synthea.csv.gz",
    "file:/v/CONCEPT_RELATIONSHIP_dicom.csv.gz", "file:/v/CONCEPT_ANCESTOR.csv", "file:/v/CONCEPT_CLASS.csv",
    "file:/v/CONCEPT_SYNONYM.csv", "file:/v/README.md", "file:/v/LICENSE", "file:/v/make_synthea_subset.py",
]


def test_every_concept_part_is_read_the_unsuffixed_file_first_and_other_tables_are_not_parts():
    assert table_parts(FOLDER, "concept") == [
        "file:/v/CONCEPT.csv.gz", "file:/v/CONCEPT_dicom.csv.gz", "file:/v/CONCEPT_synthea.csv.gz",
    ]


def test_every_relationship_part_is_read():
    assert table_parts(FOLDER, "concept_relationship") == [
        "file:/v/CONCEPT_RELATIONSHIP.csv.gz", "file:/v/CONCEPT_RELATIONSHIP_dicom.csv.gz",
        "file:/v/CONCEPT_RELATIONSHIP_synthea.csv.gz",
    ]


def test_an_athena_download_in_lower_case_tab_separated_files_is_one_part_each():
    athena = ["/a/concept.tsv", "/a/concept_relationship.tsv", "/a/concept_ancestor.tsv", "/a/vocabulary.tsv"]
    assert table_parts(athena, "concept") == ["/a/concept.tsv"]
    assert table_parts(athena, "concept_relationship") == ["/a/concept_relationship.tsv"]
