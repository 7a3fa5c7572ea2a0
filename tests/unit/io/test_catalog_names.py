"""Table names resolve to warehouse paths (path mode) or to catalog names (metastore mode)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlhops.config import load_settings
from mlhops.errors import ConfigError
from mlhops.io import Catalog

REPO = Path(__file__).resolve().parents[3]


def test_path_mode_places_tables_under_the_warehouse_root():
    c = Catalog("s3://bucket/wh/")
    assert c.path("omop.person") == "s3://bucket/wh/omop/person"
    assert c.sql_ref("mlhops.id_map") == "delta.`s3://bucket/wh/mlhops/id_map`"
    assert c.key("omop.person") == c.path("omop.person") == c.omop("person")
    assert c.mlhops("features") == "s3://bucket/wh/mlhops/features"
    assert not c.by_name


def test_metastore_mode_names_tables_in_the_configured_catalog_and_schemas():
    c = Catalog("/wh", "metastore", "main", "cdm", "mlhops_ops")
    assert c.table_name("omop.person") == "`main`.`cdm`.`person`"
    assert c.table_name("mlhops.id_map") == "`main`.`mlhops_ops`.`id_map`"
    assert c.sql_ref("omop.person") == c.table_name("omop.person")
    assert c.key("mlhops.runs") == "main.mlhops_ops.runs"
    # without a catalog name the session's current catalog is meant: two-level names
    assert Catalog("/wh", "metastore").table_name("omop.visit_occurrence") == "`omop`.`visit_occurrence`"


def test_metastore_mode_refuses_to_hand_out_paths():
    with pytest.raises(ConfigError, match="by name"):
        Catalog("/wh", "metastore", "main").path("omop.person")


@pytest.mark.parametrize("bad", ["person", "cdm.person", "omop.", "omop.person;drop", "omop.a.b"])
def test_only_omop_and_mlhops_tables_have_names(bad):
    with pytest.raises(ConfigError, match="omop.<table> or mlhops.<table>"):
        Catalog("/wh", "metastore", "main").table_name(bad)


@pytest.mark.parametrize("field", ["name", "omop_schema", "mlhops_schema"])
def test_catalog_and_schema_names_that_would_need_quoting_are_refused(field):
    with pytest.raises(ConfigError, match=field):
        Catalog("/wh", "metastore", **{"name": "main", field: "x`; DROP"})


def test_the_catalog_survives_a_round_trip_through_a_tag():
    c = Catalog("/wh", "metastore", "main", "cdm", "ops")
    assert Catalog.from_tag(c.to_tag()) == c
    assert Catalog.from_tag(Catalog("/wh").to_tag()) == Catalog("/wh")


def _settings(tmp_path: Path, overlay: str):
    (tmp_path / "env").mkdir()
    (tmp_path / "base.yaml").write_text((REPO / "conf" / "base.yaml").read_text())
    (tmp_path / "env" / "test.yaml").write_text(overlay)
    return load_settings("test", conf_dir=tmp_path, warehouse="/tmp/wh")


def test_the_shipped_default_is_path_mode(tmp_path):
    assert _settings(tmp_path, "{}\n").catalog.kind == "path"


def test_metastore_mode_is_configured_by_catalog_and_schemas(tmp_path):
    s = _settings(tmp_path, "catalog:\n  kind: metastore\n  name: main\n  omop_schema: cdm\n")
    assert (s.catalog.kind, s.catalog.name, s.catalog.omop_schema, s.catalog.mlhops_schema) == (
        "metastore", "main", "cdm", "mlhops")


def test_schemas_set_in_path_mode_are_a_mistake_named_as_such(tmp_path):
    with pytest.raises(ConfigError, match="catalog.*kind metastore only"):
        _settings(tmp_path, "catalog:\n  omop_schema: cdm\n")


def test_an_unknown_catalog_kind_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match="catalog.kind"):
        _settings(tmp_path, "catalog:\n  kind: unity\n")
