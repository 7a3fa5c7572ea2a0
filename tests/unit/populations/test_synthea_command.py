"""mlhops generate without Java: the Synthea command line, the options, population.json.

A stand-in ``java`` (a Python script) plays Synthea here: it answers ``-version`` and writes a
few CSV files where ``--exporter.baseDirectory`` says. The real run is in tests/spark/populations.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shlex
import stat
import sys
import zipfile
from pathlib import Path

import pytest

from mlhops.errors import ConfigError
from mlhops.populations import synthea
from mlhops.populations.synthea import GenerateError, GenerateRequest, build_command, generate
from mlhops.runtime_setup import SYNTHEA_VERSION

FAKE_SYNTHEA = r'''
import os, sys
from pathlib import Path
args = sys.argv[1:]
if args == ["-version"]:
    print('openjdk version "17.0.15" 2025-04-15', file=sys.stderr)
    sys.exit(0)
Path(os.environ["FAKE_ARGV"]).write_text("\n".join(args))
base = Path(next(a.split("=", 1)[1] for a in args if a.startswith("--exporter.baseDirectory=")))
n = int(args[args.index("-p") + 1])
print("Running with options:")
for i in range(n + 1):
    print(f"{i + 1} -- Person{i} (40 y/o F) Somewhere, {args[-1]}  (123)")
print(f"Records: total={n + 1}, alive={n}, dead=1")
if os.environ.get("FAKE_RC"):
    print("java.lang.IllegalStateException: boom")
    sys.exit(int(os.environ["FAKE_RC"]))
(base / "csv").mkdir(parents=True)
rows = "".join(f"p{i},2000-01-01\n" for i in range(n + 1))
(base / "csv" / "patients.csv").write_text("Id,BIRTHDATE\n" + rows)
(base / "csv" / "conditions.csv").write_text("START,STOP,PATIENT,ENCOUNTER,SYSTEM,CODE,DESCRIPTION\n")
if "--exporter.fhir.export=true" in args:
    (base / "fhir").mkdir()
    (base / "fhir" / "Person0.json").write_text("{}")
'''


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """(java, classpath, argv file): a stand-in java and a Synthea jar holding the state list."""
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.write_text(f"#!{sys.executable}\n{FAKE_SYNTHEA}")
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    jar = tmp_path / "jars" / f"org.mitre.synthea_synthea-{SYNTHEA_VERSION}.jar"
    jar.parent.mkdir()
    with zipfile.ZipFile(jar, "w") as zf:
        zf.writestr("geography/timezones.csv", "STATE,ST,TIMEZONE,TZ\nMassachusetts,MA,Eastern,EST\n"
                                               "Texas,TX,Central,CST\nNew York,NY,Eastern,EST\n")
    argv_file = tmp_path / "argv.txt"
    monkeypatch.setenv("FAKE_ARGV", str(argv_file))
    monkeypatch.delenv("FAKE_RC", raising=False)
    return str(java), [str(jar), str(tmp_path / "jars" / "dep.jar")], argv_file


def _request(tmp_path: Path, **kw) -> GenerateRequest:
    return GenerateRequest(**{"population": 3, "out": tmp_path / "pop", "state": "Texas", "seed": 42, **kw})


def test_command_fixes_seed_dates_threads_and_leaves_claims_out(tmp_path):
    req = _request(tmp_path, reference_date=dt.date(2024, 6, 30), years_of_history=7)
    cmd = build_command(req, ["/c/a.jar", "/c/b.jar"], tmp_path / "work", java="/jdk/bin/java")
    assert cmd[:6] == ["/jdk/bin/java", "-Duser.timezone=UTC", "-Dfile.encoding=UTF-8", "-cp",
                       "/c/a.jar:/c/b.jar", "App"]
    pairs = dict(zip(cmd[6:16:2], cmd[7:16:2], strict=True))
    assert pairs == {"-p": "3", "-s": "42", "-cs": "42", "-r": "20240630", "-e": "20240630"}
    assert cmd[-1] == "Texas"
    settings = dict(a[2:].split("=", 1) for a in cmd if a.startswith("--"))
    assert settings["exporter.baseDirectory"] == str(tmp_path / "work")
    assert settings["exporter.years_of_history"] == "7"
    assert settings["exporter.csv.export"] == "true"
    assert settings["exporter.fhir.export"] == "false"
    assert settings["exporter.metadata.export"] == "false"  # it records the wall-clock start time
    assert settings["generate.thread_pool_size"] == "1"  # row order depends on threads
    assert settings["exporter.csv.excluded_files"].split(",") == [
        "claims.csv", "claims_transactions.csv", "patient_expenses.csv"]


def test_command_options_fhir_claims_city_and_settings(tmp_path):
    req = _request(tmp_path, fhir=True, claims=True, city="Austin",
                   extra=("--generate.only_alive_patients=true",))
    cmd = build_command(req, ["/c/a.jar"], tmp_path)
    settings = dict(a[2:].split("=", 1) for a in cmd if a.startswith("--"))
    assert settings["exporter.fhir.export"] == settings["exporter.hospital.fhir.export"] == "true"
    assert settings["exporter.practitioner.fhir.export"] == "true"
    assert settings["exporter.csv.excluded_files"] == "patient_expenses.csv"
    assert settings["generate.only_alive_patients"] == "true"
    assert cmd[-2:] == ["Texas", "Austin"]


@pytest.mark.parametrize(("kw", "message"), [
    ({"population": 0}, "--population"),
    ({"years_of_history": -1}, "--years-of-history"),
    ({"seed": -5}, "--seed"),
    ({"extra": ("exporter.csv.export=false",)}, "--key=value"),
])
def test_request_checks(tmp_path, kw, message):
    with pytest.raises(ConfigError, match=message):
        _request(tmp_path, **kw).check()


def test_states_come_from_the_jar_by_name_or_code(fake):
    _, classpath, _ = fake
    states = synthea.synthea_states(classpath)
    assert states == {"Massachusetts": "MA", "Texas": "TX", "New York": "NY"}
    assert synthea.resolve_state("new york", states) == "New York"
    assert synthea.resolve_state("ma", states) == "Massachusetts"
    with pytest.raises(ConfigError, match=r"unknown state 'Atlantis'.*Massachusetts"):
        synthea.resolve_state("Atlantis", states)


def test_missing_jars_say_how_to_fetch_them(tmp_path, monkeypatch):
    monkeypatch.setenv("MLHOPS_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ConfigError, match=r"python -m mlhops\.runtime_setup fetch-synthea"):
        synthea.synthea_classpath()


def test_missing_java_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ConfigError, match="Java 17"):
        synthea.find_java()


def test_population_json_records_how_to_make_the_files_again(tmp_path, fake):
    java, classpath, argv_file = fake
    lines = []
    req = _request(tmp_path, state="tx", fhir=True)
    manifest = generate(req, progress=lines.append, classpath=classpath, java=java)
    out = tmp_path / "pop"
    assert json.loads((out / "population.json").read_text()) == manifest
    assert manifest["synthea_version"] == SYNTHEA_VERSION
    assert manifest["state"] == "Texas" and manifest["seed"] == 42 and manifest["population"] == 3
    assert manifest["reference_date"] == "2025-01-01" and manifest["years_of_history"] == 10
    assert manifest["mlhops_version"]
    assert manifest["records"] == {"total": 4, "alive": 3, "dead": 1}
    assert manifest["tables"]["patients"]["rows"] == 4
    assert manifest["tables"]["conditions"]["rows"] == 0
    assert manifest["tables"]["patients"]["file"] == "csv/patients.csv"
    assert manifest["fhir_files"]["files"] == 1
    # the command recorded is the one that ran, classpath aside
    ran = argv_file.read_text().split("\n")
    assert manifest["argv"][0] == java and manifest["argv"][4] == "$SYNTHEA_CLASSPATH"
    assert manifest["argv"][6:] == ran[2 + 3:]  # after -D.. -D.. -cp CP App
    assert shlex.split(manifest["command"].replace('"$SYNTHEA_CLASSPATH"', "CP"))[6:] == ran[5:]
    assert shlex.split(manifest["mlhops_command"])[:10] == [
        "mlhops", "generate", "--population", "3", "--state", "Texas", "--seed", "42",
        "--reference-date", "2025-01-01"]
    # files in place, Synthea's output in the log, no work directory left
    assert sorted(p.name for p in out.iterdir()) == ["csv", "fhir", "population.json", "synthea.log"]
    assert "Records: total=4" in (out / "synthea.log").read_text()
    assert lines[0].startswith("generating 3 patients, Texas, seed 42")
    assert "done in" in lines[-1] and "4 records (3 alive, 1 dead)" in lines[-1]


def test_the_recorded_mlhops_command_parses_back_to_the_request(tmp_path, fake):
    java, classpath, _ = fake
    req = _request(tmp_path, claims=True, gzip=True, city="Austin", years_of_history=0,
                   extra=("--generate.only_alive_patients=true",))
    manifest = generate(req, classpath=classpath, java=java)
    from mlhops import cli

    args = cli.build_parser().parse_args(shlex.split(manifest["mlhops_command"])[1:])
    again = cli.generate_request(args)
    assert again == GenerateRequest(**{**req.__dict__, "out": (tmp_path / "pop").resolve()})


def test_gzip_is_reproducible_and_counted(tmp_path, fake):
    java, classpath, _ = fake
    sums = []
    for name in ("a", "b"):
        m = generate(_request(tmp_path, out=tmp_path / name, gzip=True), classpath=classpath, java=java)
        assert m["tables"]["patients"]["file"] == "csv/patients.csv.gz"
        assert m["tables"]["patients"]["rows"] == 4
        sums.append({t: v["sha256"] for t, v in m["tables"].items()})
    assert sums[0] == sums[1]
    data = gzip.decompress((tmp_path / "a" / "csv" / "patients.csv.gz").read_bytes())
    assert data.startswith(b"Id,BIRTHDATE\n")


def test_an_existing_population_needs_force(tmp_path, fake):
    java, classpath, _ = fake
    generate(_request(tmp_path), classpath=classpath, java=java)
    with pytest.raises(ConfigError, match="already holds a population.*--force"):
        generate(_request(tmp_path), classpath=classpath, java=java)
    m = generate(_request(tmp_path, population=1, force=True), classpath=classpath, java=java)
    assert m["tables"]["patients"]["rows"] == 2


def test_synthea_failure_names_the_log(tmp_path, fake, monkeypatch):
    java, classpath, _ = fake
    monkeypatch.setenv("FAKE_RC", "3")
    with pytest.raises(GenerateError, match=r"(?s)Synthea failed \(exit 3\).*synthea\.log.*boom"):
        generate(_request(tmp_path), classpath=classpath, java=java)


def test_cli_generate_verb_runs_without_settings_or_spark(tmp_path, fake, monkeypatch, capsys):
    java, classpath, _ = fake
    from mlhops import cli

    monkeypatch.setattr(synthea, "find_java", lambda: java)
    monkeypatch.setattr(synthea, "synthea_classpath", lambda: classpath)
    rc = cli.main(["generate", "-p", "2", "--state", "MA", "--seed", "9", "--out", str(tmp_path / "x")])
    assert rc == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "generating 2 patients, Massachusetts, seed 9" in out and "done in" in out
    rc = cli.main(["generate", "-p", "2", "--state", "Atlantis", "--out", str(tmp_path / "y")])
    assert rc == 2
    assert "unknown state 'Atlantis'" in capsys.readouterr().err
