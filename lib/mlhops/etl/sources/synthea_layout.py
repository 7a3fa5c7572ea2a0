"""Per-file layout of a Synthea CSV export, read from each file's header (no Spark).

Synthea changed its CSV columns between releases (2.x to 3.3): 3.0 gave procedures a
START/STOP instead of DATE and allergies a SYSTEM; 3.3 writes ``payer_transitions`` with
START_DATE/END_DATE/PLAN_OWNERSHIP/OWNER_NAME instead of START_YEAR/END_YEAR/OWNERSHIP/OWNERNAME,
adds SYSTEM to conditions and procedures and MIDDLE/FIPS/INCOME to patients; claims files exist
from 3.0 on and may be left out. Instead of guessing one version for the whole export, each file
is resolved on its own: every column the parsers read is a *role* with the header names that can
fill it (in order of preference, matched case-insensitively). A required role that no name fills
is an error naming the file and the column; an optional one may be absent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mlhops.errors import SchemaError


class SyntheaLayoutError(SchemaError):
    """A Synthea CSV file lacks a column the ETL needs.

    Attributes:
        file: file name (no folder).
        column: the missing role, with its accepted header names.
    """

    def __init__(self, file: str, role: str, names: Sequence[str]) -> None:
        accepted = " or ".join(names)
        super().__init__(f"Synthea CSV file {file}: required column {accepted} missing from its header")
        self.file = file
        self.column = role


@dataclass(frozen=True)
class TableSpec:
    """Roles of one Synthea file: role -> header names that fill it, preferred first."""

    required: Mapping[str, tuple[str, ...]]
    optional: Mapping[str, tuple[str, ...]]


def _same(*names: str) -> dict[str, tuple[str, ...]]:
    return {n: (n,) for n in names}


_CLINICAL_SPAN = _same("START", "STOP", "PATIENT", "CODE")
_CLINICAL_POINT = _same("DATE", "PATIENT", "CODE")
_OPT_ENCOUNTER = _same("ENCOUNTER")
_OPT_SYSTEM = _same("ENCOUNTER", "SYSTEM")

# What the parsers of mlhops.etl.sources.synthea_tables read from each file.
SPECS: dict[str, TableSpec] = {
    "patients": TableSpec(
        required=_same("Id", "BIRTHDATE", "DEATHDATE", "GENDER", "RACE", "ETHNICITY"),
        optional=_same("CITY", "STATE", "COUNTY", "ZIP"),
    ),
    "encounters": TableSpec(
        required=_same("Id", "START", "STOP", "PATIENT", "ENCOUNTERCLASS"),
        optional=_same("PROVIDER", "ORGANIZATION"),
    ),
    "organizations": TableSpec(required=_same("Id"), optional=_same("NAME", "CITY", "STATE", "ZIP", "LAT", "LON")),
    "providers": TableSpec(required=_same("Id"), optional=_same("ORGANIZATION", "GENDER", "SPECIALITY")),
    "payers": TableSpec(required=_same("Id"), optional=_same("NAME")),
    "payer_transitions": TableSpec(
        required={
            "PATIENT": ("PATIENT",), "PAYER": ("PAYER",),
            # 3.3: timestamps; 2.x and 3.0-3.2: years (2.x) or timestamps (3.x) under *_YEAR.
            "START": ("START_DATE", "START_YEAR"), "END": ("END_DATE", "END_YEAR"),
        },
        optional={"OWNERSHIP": ("PLAN_OWNERSHIP", "OWNERSHIP")},
    ),
    "claims": TableSpec(required=_same("Id", "APPOINTMENTID"), optional={}),
    "claims_transactions": TableSpec(required=_same("CLAIMID", "TYPE", "AMOUNT", "PAYMENTS", "METHOD"), optional={}),
    "conditions": TableSpec(required=_CLINICAL_SPAN, optional=_OPT_SYSTEM),
    "medications": TableSpec(required={**_CLINICAL_SPAN, **_same("DISPENSES")}, optional=_OPT_ENCOUNTER),
    "immunizations": TableSpec(required=_CLINICAL_POINT, optional=_OPT_ENCOUNTER),
    # 2.x: one DATE; 3.x: START/STOP.
    "procedures": TableSpec(
        required={"START": ("START", "DATE"), "PATIENT": ("PATIENT",), "CODE": ("CODE",)},
        optional={**_OPT_SYSTEM, "STOP": ("STOP",)},
    ),
    "observations": TableSpec(
        required={**_CLINICAL_POINT, **_same("VALUE", "UNITS")},
        optional={**_OPT_ENCOUNTER, **_same("TYPE", "CATEGORY")},
    ),
    "allergies": TableSpec(required=_CLINICAL_SPAN, optional=_OPT_SYSTEM),
    "devices": TableSpec(required=_CLINICAL_SPAN, optional=_OPT_ENCOUNTER),
    "supplies": TableSpec(required={**_CLINICAL_POINT, **_same("QUANTITY")}, optional=_OPT_ENCOUNTER),
    # Files from before series UIDs have no image_occurrence (filtered, see synthea.py).
    "imaging_studies": TableSpec(
        required=_same("Id", "DATE", "PATIENT"),
        optional=_same("ENCOUNTER", "PROCEDURE_CODE", "SERIES_UID", "MODALITY_CODE", "BODYSITE_CODE"),
    ),
}


@dataclass(frozen=True)
class FileLayout:
    """How one file's header fills the roles its parser reads.

    Attributes:
        table: Synthea table name (``"payer_transitions"``).
        file: file name.
        columns: role -> header column that fills it (absent optional roles are left out).
    """

    table: str
    file: str
    columns: Mapping[str, str]

    def col(self, role: str) -> str:
        """The header column of ``role`` (KeyError when an optional role is absent)."""
        return self.columns[role]

    def has(self, role: str) -> bool:
        """Whether the header fills ``role``."""
        return role in self.columns

    def renames(self) -> dict[str, str]:
        """Header column -> role for roles filled by a column of the same name in another case
        (``ID`` -> ``Id``), so that parsers can use the role's spelling."""
        return {c: r for r, c in self.columns.items() if c != r and c.lower() == r.lower()}


def _fill(header_by_lower: Mapping[str, str], names: Sequence[str]) -> str | None:
    return next((header_by_lower[n.lower()] for n in names if n.lower() in header_by_lower), None)


def resolve_layout(table: str, file: str, header: Sequence[str]) -> FileLayout | None:
    """Resolve one file's roles from its header.

    Args:
        table: Synthea table name (file name without extension, lower case).
        file: file name, for messages.
        header: the file's column names.

    Returns:
        the layout, or None for a table the parsers do not read (``careplans``, unknown files).

    Raises:
        SyntheaLayoutError: a required role is filled by no column of the header.
    """
    spec = SPECS.get(table)
    if spec is None:
        return None
    by_lower = {h.lower(): h for h in reversed(list(header))}  # first spelling wins on a clash
    columns: dict[str, str] = {}
    for role, names in spec.required.items():
        found = _fill(by_lower, names)
        if found is None:
            raise SyntheaLayoutError(file, role, names)
        columns[role] = found
    for role, names in spec.optional.items():
        found = _fill(by_lower, names)
        if found is not None:
            columns[role] = found
    return FileLayout(table=table, file=file, columns=columns)

