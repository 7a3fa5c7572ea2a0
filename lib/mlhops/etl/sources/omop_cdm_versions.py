"""The documented OMOP CDM v5.3 -> v5.4 changes, as data.

Source: OHDSI CommonDataModel, "CDM v5.4 changes" (https://ohdsi.github.io/CommonDataModel/cdm54Changes.html).
Only changes that alter what a v5.3 export contains matter when loading it as v5.4:

* renamed columns (below); values are kept;
* columns new in v5.4 (e.g. ``procedure_end_date``, ``measurement_event_id``, ``country_concept_id``,
  ``production_id``) are absent from a v5.3 file and load as null (all are optional);
* ``cdm_source.cdm_version_concept_id`` is new *and* required: a v5.3 export gets the concept of
  the version it is converted to (:data:`CDM_V54_VERSION_CONCEPT_ID`);
* ``metadata.metadata_id`` is a new required primary key: numbered from the source line;
* ``attribute_definition`` no longer exists in v5.4: its rows are counted as filtered.
"""

from __future__ import annotations

# table -> {v5.3 column: v5.4 column}
RENAMED_COLUMNS: dict[str, dict[str, str]] = {
    "visit_occurrence": {
        "admitting_source_concept_id": "admitted_from_concept_id",
        "admitting_source_value": "admitted_from_source_value",
        "discharge_to_concept_id": "discharged_to_concept_id",
        "discharge_to_source_value": "discharged_to_source_value",
    },
    "visit_detail": {
        "admitting_source_concept_id": "admitted_from_concept_id",
        "admitting_source_value": "admitted_from_source_value",
        "discharge_to_concept_id": "discharged_to_concept_id",
        "discharge_to_source_value": "discharged_to_source_value",
        "visit_detail_parent_id": "parent_visit_detail_id",
    },
}

# Tables of v5.3 that v5.4 removed.
DROPPED_TABLES: frozenset[str] = frozenset({"attribute_definition"})

# CDM-vocabulary concept "OMOP CDM Version 5.4.0" (as OHDSI's own v5.4 exports record it in
# cdm_source.cdm_version_concept_id, e.g. the Eunomia Synthea27Nj 5.4 build).
CDM_V54_VERSION_CONCEPT_ID = 756265

# Any of these columns in a file marks the export as v5.3.
V53_MARKERS: dict[str, frozenset[str]] = {
    table: frozenset(renames) for table, renames in RENAMED_COLUMNS.items()
}
