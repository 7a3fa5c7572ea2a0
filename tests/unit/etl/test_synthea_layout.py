"""Header -> per-file layout of Synthea CSV files (no Spark), on tiny inline CSV texts."""

from __future__ import annotations

import csv
import io

import pytest

from mlhops.errors import MLHOpsError, SchemaError
from mlhops.etl.sources.synthea import detect_layout
from mlhops.etl.sources.synthea_layout import SyntheaLayoutError, resolve_layout

PAYER_2X = "PATIENT,START_YEAR,END_YEAR,PAYER,OWNERSHIP\np1,2001,2003,pay1,Guardian\n"
PAYER_3X = ("PATIENT,MEMBERID,START_YEAR,END_YEAR,PAYER,SECONDARY_PAYER,OWNERSHIP,OWNERNAME\n"
            "p1,m1,2001-01-01T00:00:00Z,2003-01-01T00:00:00Z,pay1,,Self,A B\n")
PAYER_33 = ("PATIENT,MEMBERID,START_DATE,END_DATE,PAYER,SECONDARY_PAYER,PLAN_OWNERSHIP,OWNER_NAME\n"
            "p1,m1,2015-12-27T20:30:24Z,2017-01-01T20:30:24Z,pay1,,Guardian,A B\n")
PROCEDURES_2X = "DATE,PATIENT,ENCOUNTER,CODE,DESCRIPTION\n2010-01-01,p1,e1,123,x\n"
PROCEDURES_33 = "START,STOP,PATIENT,ENCOUNTER,SYSTEM,CODE,DESCRIPTION\n2010-01-01T00:00:00Z,,p1,e1,SNOMED-CT,123,x\n"
PATIENTS_33 = ("Id,BIRTHDATE,DEATHDATE,SSN,FIRST,MIDDLE,LAST,RACE,ETHNICITY,GENDER,CITY,STATE,COUNTY,FIPS,ZIP,INCOME\n"
               "p1,1990-01-01,,999-99-9999,A,B,C,white,nonhispanic,F,Boston,Massachusetts,Suffolk,25025,02110,1\n")


def header(text: str) -> list[str]:
    return next(csv.reader(io.StringIO(text)))


def test_payer_transitions_bounds_come_from_whichever_columns_the_header_has():
    two = resolve_layout("payer_transitions", "payer_transitions.csv", header(PAYER_2X))
    three = resolve_layout("payer_transitions", "payer_transitions.csv", header(PAYER_3X))
    new = resolve_layout("payer_transitions", "payer_transitions.csv.gz", header(PAYER_33))
    assert (two.col("START"), two.col("END"), two.col("OWNERSHIP")) == ("START_YEAR", "END_YEAR", "OWNERSHIP")
    assert (three.col("START"), three.col("END")) == ("START_YEAR", "END_YEAR")
    assert (new.col("START"), new.col("END"), new.col("OWNERSHIP")) == ("START_DATE", "END_DATE", "PLAN_OWNERSHIP")


def test_procedures_start_is_date_in_2x_and_start_with_a_stop_in_3x():
    two = resolve_layout("procedures", "procedures.csv", header(PROCEDURES_2X))
    new = resolve_layout("procedures", "procedures.csv", header(PROCEDURES_33))
    assert two.col("START") == "DATE" and not two.has("STOP") and not two.has("SYSTEM")
    assert new.col("START") == "START" and new.col("STOP") == "STOP" and new.col("SYSTEM") == "SYSTEM"


def test_new_patient_columns_are_accepted_and_optional_ones_may_be_absent():
    full = resolve_layout("patients", "patients.csv", header(PATIENTS_33))
    assert full.has("COUNTY") and full.col("BIRTHDATE") == "BIRTHDATE"
    bare = resolve_layout("patients", "patients.csv", ["Id", "BIRTHDATE", "DEATHDATE", "RACE", "ETHNICITY", "GENDER"])
    assert not bare.has("CITY") and not bare.has("ZIP")


def test_a_column_spelled_in_another_case_fills_its_role_and_is_renamed():
    lay = resolve_layout("patients", "patients.csv", ["ID", "BIRTHDATE", "DEATHDATE", "RACE", "ETHNICITY", "GENDER"])
    assert lay.col("Id") == "ID"
    assert lay.renames() == {"ID": "Id"}


def test_a_missing_required_column_names_the_file_and_the_column():
    text = PAYER_33.replace("START_DATE,", "")
    with pytest.raises(SyntheaLayoutError, match=r"payer_transitions\.csv\.gz.*START_DATE or START_YEAR") as err:
        resolve_layout("payer_transitions", "payer_transitions.csv.gz", header(text))
    assert err.value.file == "payer_transitions.csv.gz" and err.value.column == "START"
    assert isinstance(err.value, SchemaError) and isinstance(err.value, MLHOpsError)
    with pytest.raises(SyntheaLayoutError, match=r"conditions\.csv.*CODE"):
        resolve_layout("conditions", "conditions.csv", ["START", "STOP", "PATIENT", "ENCOUNTER", "DESCRIPTION"])


def test_files_without_a_parser_have_no_layout():
    assert resolve_layout("careplans", "careplans.csv", ["Id", "START"]) is None


def test_the_version_label_names_3_3_from_its_new_columns_only():
    assert detect_layout({"payer_transitions": header(PAYER_33)}) == "synthea-3.3"
    assert detect_layout({"procedures": header(PROCEDURES_33)}) == "synthea-3.3"
    assert detect_layout({"payer_transitions": header(PAYER_3X), "claims": ["Id"]}) == "synthea-3.x"
    assert detect_layout({"payer_transitions": header(PAYER_2X), "procedures": header(PROCEDURES_2X)}) == "synthea-2.x"
