"""Fixtures of the stats tests: the shared OMOP export as Delta tables, and its feature table."""

from __future__ import annotations

import pytest

from tests.conftest import shared_path
from tests.spark.stats.omop_export import load_export


@pytest.fixture(scope="session")
def omop_warehouse(spark, tmp_path_factory):
    """A warehouse holding the shared OMOP v5.4 export as ``omop.*`` Delta tables (read-only use)."""
    base = tmp_path_factory.getbasetemp() / "omop_export_warehouse"
    base.mkdir(exist_ok=True)
    return load_export(spark, shared_path("omop_synthea27nj_cdm54"), base)


@pytest.fixture(scope="session")
def export_features(spark, omop_warehouse, settings_factory):
    """Feature rows (pandas is not used here: a Spark DataFrame, cached) of the whole export."""
    from mlhops.features.build import build_features, required_tables
    from mlhops.features.spec import load_feature_specs
    from mlhops.io import Catalog, read_table

    settings = settings_factory(omop_warehouse)
    specs = load_feature_specs(settings)
    cat = Catalog(str(omop_warehouse))
    frames = {t: read_table(spark, cat, f"omop.{t}") for t in required_tables(specs)}
    return build_features(frames, specs).cache(), specs


DIABETES_FEATURES = """
features:
  - {name: age, kind: numeric, source: person, field: age}
  - {name: sex, kind: categorical, source: person, field: sex}
  - {name: race, kind: categorical, source: person, field: race}
  - {name: visit_type, kind: categorical, source: visit, field: visit_type}
  - {name: length_of_stay_days, kind: numeric, source: visit, field: length_of_stay_days}
  - {name: lab_procedures, kind: numeric, source: measurement, concept_ids: [1], agg: count}
  - {name: medications, kind: numeric, source: drug, agg: count}
  - {name: diagnoses, kind: numeric, source: condition, agg: count}
"""
# Ten Monday-aligned weeks of synthetic dates over the UCI encounters (which have no dates).
FIRST_DAY = "2024-01-01"
WEEKS = 10
ROWS_PER_WEEK = 700


@pytest.fixture(scope="session")
def diabetes_rows():
    """A feature-table-shaped pandas frame from the UCI diabetes encounters (fixed seed)."""
    import numpy as np
    import pandas as pd

    raw = pd.read_csv(shared_path("uci_diabetes_130_us_hospitals", "diabetic_data.csv.gz"), na_values="?", low_memory=False)
    rng = np.random.default_rng(42)
    sample = raw.iloc[rng.permutation(len(raw))[: WEEKS * ROWS_PER_WEEK]].reset_index(drop=True)
    day = pd.Series(pd.Timestamp(FIRST_DAY) + pd.to_timedelta(rng.integers(0, WEEKS * 7, len(sample)), unit="D"))
    low = sample["age"].str.extract(r"\[(\d+)-")[0].astype(float)
    return pd.DataFrame(
        {
            "person_id": sample["patient_nbr"].astype("int64") % 2_000_000_000,
            "visit_occurrence_id": np.arange(1, len(sample) + 1),
            "event_time": day,
            "event_date": day.dt.date,
            "care_site_id": rng.integers(1, 4, len(sample)),
            "age": low + rng.uniform(0, 10, len(sample)),
            "sex": sample["gender"].str.lower(),
            "race": sample["race"].fillna("unknown").str.lower(),
            "visit_type": sample["admission_type_id"].astype(str),
            "length_of_stay_days": sample["time_in_hospital"].astype(float),
            "lab_procedures": sample["num_lab_procedures"].astype(float),
            "medications": sample["num_medications"].astype(float),
            "diagnoses": sample["number_diagnoses"].astype(float),
        }
    )


@pytest.fixture()
def stats_settings(settings_factory, tmp_path):
    """Settings of a small stats run: weekly drift vs the first four weeks, one site slice."""
    defs = tmp_path / "features"
    defs.mkdir()
    (defs / "diabetes.yaml").write_text(DIABETES_FEATURES)

    def make(**stats_overrides):
        stats = {
            "granularities": ["day", "week"],
            "sliding_days": [],
            "cumulative": False,
            "slices": [{"name": "site", "expr": "cast(care_site_id AS string)"}],
            "baseline": {"start": "2024-01-01", "end": "2024-01-29"},
            "drift": {"granularities": ["week"], "min_samples": 100},
        }
        stats.update(stats_overrides)
        return settings_factory(tmp_path / "wh", features={"definitions_dir": str(defs)}, stats=stats)

    return make


def write_features(spark, settings, pdf):
    """Write (first time) or MERGE feature rows into mlhops.features, change feed on."""
    from mlhops.features.build import feature_schema
    from mlhops.features.spec import load_feature_specs
    from mlhops.io import Catalog, merge_into, table_exists
    from mlhops.io.changes import enable_change_feed
    from mlhops.io.tables.monitoring import FEATURE_KEYS, FEATURES

    schema = feature_schema(load_feature_specs(settings))
    import pandas as pd

    def plain(v):
        if v is None or (isinstance(v, float) and v != v):
            return None
        if isinstance(v, pd.Timestamp):
            return v.to_pydatetime()
        return v.item() if hasattr(v, "item") else v

    names = [f.name for f in schema.fields]
    rows = [tuple(plain(v) for v in r) for r in pdf[names].astype(object).itertuples(index=False)]
    df = spark.createDataFrame(rows, schema=schema)
    cat = Catalog(settings.warehouse)
    created = not table_exists(spark, cat, FEATURES)
    merge_into(df, cat, FEATURES, list(FEATURE_KEYS))
    if created:
        enable_change_feed(spark, cat, FEATURES)
