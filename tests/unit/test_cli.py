import datetime as dt

import pytest

from mlhops.cli import EXIT_CONFIG, _window, build_parser, main
from mlhops.errors import ConfigError


def test_date_means_one_day_window():
    args = build_parser().parse_args(["nightly", "--date", "2024-03-01"])
    assert _window(args) == (dt.date(2024, 3, 1), dt.date(2024, 3, 2))


def test_backfill_range_is_inclusive_of_to():
    args = build_parser().parse_args(["nightly", "--from", "2024-03-01", "--to", "2024-03-07"])
    assert _window(args) == (dt.date(2024, 3, 1), dt.date(2024, 3, 8))


def test_date_and_range_together_are_refused():
    args = build_parser().parse_args(["nightly", "--date", "2024-03-01", "--from", "2024-03-01", "--to", "2024-03-02"])
    with pytest.raises(ConfigError):
        _window(args)


def test_unknown_stage_is_a_configuration_error(tmp_path):
    assert main(["nightly", "--only", "no-such-stage", "--warehouse", str(tmp_path)]) == EXIT_CONFIG


def test_unknown_conf_file_is_a_configuration_error(tmp_path):
    assert main(["nightly", "--conf", str(tmp_path / "missing.yaml"), "--warehouse", str(tmp_path)]) == EXIT_CONFIG


def test_an_approved_change_names_its_approver():
    from mlhops.cli import _stage_and_options

    args = build_parser().parse_args(["promote", "--approve", "--by", "dr.reviewer", "--reason", "non-inferior"])
    stage, options = _stage_and_options(args)
    assert (stage, options.action, options.approved_by, options.reason) == (
        "promote", "promote", "dr.reviewer", "non-inferior")
    for half in (["rollback", "--approve"], ["rollback", "--by", "dr.reviewer"]):
        with pytest.raises(ConfigError, match="--approve and --by NAME go together"):
            _stage_and_options(build_parser().parse_args(half))
