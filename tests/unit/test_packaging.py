"""The packaging tells one story: the wheel's ranges (setup.cfg) hold the tested pins
(requirements.txt), the lock holds exactly those pins with hashes for every package, Spark and
Delta are an extra, and test/benchmark tools are not runtime requirements."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from mlhops.runtime_setup import MIN_DELTA, MIN_SPARK

REPO = Path(__file__).resolve().parents[2]


def _setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    return cfg


def _requirements(text: str) -> list[Requirement]:
    return [Requirement(line) for line in map(str.strip, text.splitlines()) if line and not line.startswith("#")]


def _wheel_requirements(python: str = "3.11") -> dict[str, list[Requirement]]:
    """The wheel's requirements that apply on ``python`` (the lock's is 3.11)."""
    cfg = _setup_cfg()
    groups = {"runtime": _requirements(cfg["options"]["install_requires"])}
    for extra, text in cfg["options.extras_require"].items():
        groups[extra] = _requirements(text)
    env = {"python_version": python, "python_full_version": f"{python}.0", "extra": ""}
    return {g: [r for r in reqs if r.marker is None or r.marker.evaluate(env)] for g, reqs in groups.items()}


def _lock() -> dict[str, tuple[Version, int]]:
    """name -> (pinned version, number of hashes)."""
    text = (REPO / "requirements.lock").read_text()
    entries = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)((?:\s*\\\s*--hash=sha256:[0-9a-f]{64})*)", text, re.M)
    return {canonicalize_name(n): (Version(v), hashes.count("--hash=")) for n, v, hashes in entries}


def test_spark_and_delta_are_an_extra_and_tools_are_not_runtime_requirements():
    groups = _wheel_requirements()
    runtime = {canonicalize_name(r.name) for r in groups["runtime"]}
    assert not runtime & {"pyspark", "delta-spark", "pytest", "duckdb", "pip-tools"}
    assert {canonicalize_name(r.name) for r in groups["spark"]} == {"pyspark", "delta-spark"}
    assert {r.name for r in groups["test"]} == {"pytest"}
    assert {r.name for r in groups["bench"]} == {"duckdb"}


def test_the_spark_extra_floors_are_the_ones_checked_at_start_up():
    spark = {canonicalize_name(r.name): r.specifier for r in _wheel_requirements()["spark"]}
    floor = Version(".".join(map(str, MIN_SPARK)))
    assert floor in spark["pyspark"] and Version("4.1.1") not in spark["pyspark"]
    assert Version(".".join(map(str, MIN_DELTA))) in spark["delta-spark"]
    assert Version("4.3.0") not in spark["delta-spark"] and Version("4.4.1") not in spark["delta-spark"]


def test_the_tested_pins_fall_inside_the_wheel_ranges():
    lock = _lock()
    for group, reqs in _wheel_requirements().items():
        for req in reqs:
            pinned, _ = lock[canonicalize_name(req.name)]
            assert pinned in req.specifier, f"{group}: {req} excludes the tested {req.name}=={pinned}"


def test_the_lock_pins_every_requirement_within_its_range_and_hashes_every_package():
    lock = _lock()
    text = (REPO / "requirements.lock").read_text()
    assert len(lock) == len(re.findall(r"^[A-Za-z0-9_.\-]+==", text, re.M)) > 100  # torch's tree included
    for req in _requirements((REPO / "requirements.txt").read_text()):
        pinned, _ = lock[canonicalize_name(req.name)]
        assert pinned in req.specifier, f"lock has {req.name}=={pinned}, requirements.txt says {req}"
    assert all(n >= 1 for _, n in lock.values())
    assert "--find-links" not in text.replace("--no-emit-find-links", "")  # no machine-local paths


def test_set_up_installs_from_the_lock_with_hashes_and_the_wheel_carries_conf():
    bootstrap = (REPO / "scripts" / "_bootstrap.sh").read_text()
    assert '--require-hashes --no-deps -r "$REPO_ROOT/requirements.lock"' in bootstrap
    assert "requirements.lock" in bootstrap.split("_mlhops_stamp()", 1)[1].split("}", 1)[0]
    cfg = _setup_cfg()
    assert "mlhops._conf = conf" in cfg["options"]["package_dir"]
    data = cfg["options.package_data"]["mlhops._conf"].split()
    folders = {p.parent.name for p in (REPO / "conf").glob("*/*.yaml")}
    assert {f"{d}/*.yaml" for d in folders} | {"*.yaml"} == set(data)


def test_on_python_3_12_the_wheel_lists_what_alibi_detect_imports_instead_of_its_unresolvable_pins():
    # alibi-detect 0.11.4 pins numba<0.58, Pillow<10 and scikit-image<0.22: no Python 3.12 wheels.
    # On 3.12 it is installed with --no-deps (start-up checks it); the wheel brings its imports.
    py311 = {canonicalize_name(r.name): r for r in _wheel_requirements("3.11")["runtime"]}
    py312 = {canonicalize_name(r.name): r for r in _wheel_requirements("3.12")["runtime"]}
    assert Version("0.11.4") in py311["alibi-detect"].specifier and "alibi-detect" not in py312
    assert Version("0.59.1") in py312["numba"].specifier and Version("10.0.0") in py312["pillow"].specifier
    assert {"transformers", "dill", "catalogue", "toml", "tqdm", "requests"} <= set(py312)
    cfg = _setup_cfg()["options"]["python_requires"]
    assert "<3.13" in cfg and ">=3.11" in cfg
    init = (REPO / "conf" / "deploy" / "databricks-init.sh").read_text()
    assert re.search(r"(pip|PIP\"?) install --no-deps ['\"]?alibi-detect==0\.11\.4", init)


def test_every_folder_of_python_modules_is_a_package_the_wheel_finds():
    # setup.py packages what find_packages sees: a folder without __init__.py imports from the
    # checkout (a namespace package) but is left out of the wheel
    from setuptools import find_packages

    found = {REPO / "lib" / p.replace(".", "/") for p in find_packages(str(REPO / "lib"))}
    with_modules = {p.parent for p in (REPO / "lib" / "mlhops").rglob("*.py") if "__pycache__" not in p.parts}
    assert with_modules - found == set()
