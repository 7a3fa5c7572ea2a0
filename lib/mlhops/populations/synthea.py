"""Run Synthea with a fixed seed and reference date, so the same command makes the same files.

What makes a run reproducible (checked by tests/spark/populations: two runs, identical SHA-256 of
every CSV and FHIR file):

- ``-s SEED -cs SEED``: the population seed and the clinician seed;
- ``-r DATE -e DATE``: the reference date (ages) and the end of the simulation. Without ``-e``
  Synthea simulates up to the wall clock, so every day would give other records;
- ``generate.thread_pool_size=1``: with more threads patients are written in the order they
  finish, so the rows come out in another order;
- ``exporter.metadata.export=false``: Synthea's ``metadata/*.json`` records the run's wall-clock
  start time; ``population.json`` replaces it;
- ``-Duser.timezone=UTC``: dates are cut in one time zone on every machine.

The files FHIR writes for hospitals and practitioners carry a number in their name: it is the
simulation's end time (the reference date in epoch milliseconds), not a run-time timestamp.

Claims (``claims.csv``, ``claims_transactions.csv``: about half of the bytes, used by no mlhops
stage) and ``patient_expenses.csv`` are left out unless ``--claims`` asks for the first two.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import gzip
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mlhops import __version__
from mlhops.errors import ConfigError, MLHOpsError
from mlhops.runtime_setup import (
    SYNTHEA_ARTIFACT,
    SYNTHEA_VERSION,
    cached_synthea_classpath,
    sha256_file,
    synthea_manifest,
)

DEFAULT_REFERENCE_DATE = dt.date(2025, 1, 1)
DEFAULT_YEARS_OF_HISTORY = 10  # Synthea's own default
DEFAULT_STATE = "Massachusetts"
CLAIMS_CSV = ("claims.csv", "claims_transactions.csv")
DEFAULT_EXCLUDED_CSV = (*CLAIMS_CSV, "patient_expenses.csv")
MIN_JAVA = 11  # Synthea 3.3.0 is compiled for Java 11 (class file 55); the project runs Java 17
LOG_NAME = "synthea.log"
MANIFEST_NAME = "population.json"
SETUP_HINT = "run scripts/demo or python -m mlhops.runtime_setup fetch-synthea"

_PATIENT_LINE = re.compile(r"^\d+ -- ")
_RECORDS_LINE = re.compile(r"Records: total=(\d+), alive=(\d+), dead=(\d+)")


class GenerateError(MLHOpsError):
    """Synthea could not run or failed (exit code 1)."""


@dataclass(frozen=True)
class GenerateRequest:
    """What to generate. ``population`` is Synthea's ``-p``: living patients; those who died
    during the simulated lifetimes come on top (``population.json`` records both counts)."""

    population: int
    out: Path
    state: str = DEFAULT_STATE
    seed: int = 1
    fhir: bool = False
    reference_date: dt.date = DEFAULT_REFERENCE_DATE
    years_of_history: int = DEFAULT_YEARS_OF_HISTORY
    claims: bool = False
    gzip: bool = False
    force: bool = False
    city: str | None = None
    extra: tuple[str, ...] = field(default=())  # further --key=value Synthea settings

    def check(self) -> None:
        if self.population < 1:
            raise ConfigError(f"--population must be at least 1 (got {self.population})")
        if self.years_of_history < 0:
            raise ConfigError(f"--years-of-history must be 0 (all) or more (got {self.years_of_history})")
        if not 0 <= self.seed < 2**63:
            raise ConfigError(f"--seed must be a non-negative 64-bit integer (got {self.seed})")
        for setting in self.extra:
            if not re.fullmatch(r"--[A-Za-z0-9_.]+=.*", setting):
                raise ConfigError(f"a Synthea setting is --key=value, got {setting!r}")


def excluded_csv(request: GenerateRequest) -> tuple[str, ...]:
    return tuple(f for f in DEFAULT_EXCLUDED_CSV if not (request.claims and f in CLAIMS_CSV))


def build_command(request: GenerateRequest, classpath: Sequence[str], base_dir: Path,
                  java: str = "java") -> list[str]:
    """The Synthea command line (argv) for ``request``, writing under ``base_dir``."""
    fhir = "true" if request.fhir else "false"
    day = f"{request.reference_date:%Y%m%d}"
    cmd = [
        java, "-Duser.timezone=UTC", "-Dfile.encoding=UTF-8", "-cp", os.pathsep.join(classpath), "App",
        "-p", str(request.population),
        "-s", str(request.seed),
        "-cs", str(request.seed),
        "-r", day,
        "-e", day,
        f"--exporter.baseDirectory={base_dir}",
        f"--exporter.years_of_history={request.years_of_history}",
        "--exporter.csv.export=true",
        "--exporter.csv.append_mode=false",
        "--exporter.csv.folder_per_run=false",
        f"--exporter.csv.excluded_files={','.join(excluded_csv(request))}",
        f"--exporter.fhir.export={fhir}",
        f"--exporter.hospital.fhir.export={fhir}",
        f"--exporter.practitioner.fhir.export={fhir}",
        "--exporter.metadata.export=false",
        "--generate.thread_pool_size=1",
        *request.extra,
        request.state,
    ]
    if request.city:
        cmd.append(request.city)
    return cmd


def mlhops_command(request: GenerateRequest) -> list[str]:
    """The ``mlhops generate`` command that makes these files again (output directory aside)."""
    cmd = ["mlhops", "generate", "--population", str(request.population), "--state", request.state,
           "--seed", str(request.seed), "--reference-date", request.reference_date.isoformat(),
           "--years-of-history", str(request.years_of_history), "--out", str(request.out)]
    if request.city:
        cmd += ["--city", request.city]
    if request.fhir:
        cmd.append("--fhir")
    if request.claims:
        cmd.append("--claims")
    if request.gzip:
        cmd.append("--gzip")
    for setting in request.extra:
        cmd += ["--synthea-setting", setting.removeprefix("--")]
    return cmd


def shown_command(argv: Sequence[str]) -> str:
    """``argv`` as a shell line, the (machine-specific, long) classpath replaced by a variable."""
    parts = list(argv)
    if "-cp" in parts:
        parts[parts.index("-cp") + 1] = "$SYNTHEA_CLASSPATH"
    return " ".join('"$SYNTHEA_CLASSPATH"' if p == "$SYNTHEA_CLASSPATH" else shlex.quote(p) for p in parts)


# --- set-up checks -------------------------------------------------------------------------


def synthea_classpath() -> list[str]:
    """The cached classpath, or a clear error naming the set-up step."""
    classpath = cached_synthea_classpath()
    if not classpath:
        raise ConfigError(f"the Synthea jars are not fetched (no valid {synthea_manifest()}): {SETUP_HINT}")
    return classpath


def find_java() -> str:
    """Path of a Java >= 11 runtime ($JAVA_HOME first, then PATH), or a clear error."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home and (Path(home) / "bin" / "java").is_file() else None
    java = java or shutil.which("java")
    if not java:
        raise ConfigError("no Java runtime ($JAVA_HOME/bin/java or java on PATH): Synthea needs Java 17 "
                          "(apt-get install openjdk-17-jre-headless)")
    shown = java_version(java)
    m = re.search(r'version "(\d+)(?:\.(\d+))?', shown)
    major = (int(m.group(2)) if m.group(1) == "1" else int(m.group(1))) if m else 0
    if major < MIN_JAVA:
        raise ConfigError(f"Synthea needs Java {MIN_JAVA}+ (17 recommended); {java} is "
                          f"{m.group(0) if m else 'of unknown version'}")
    return java


@functools.lru_cache(maxsize=4)
def java_version(java: str) -> str:
    """The first line of ``java -version`` (asked once per runtime)."""
    proc = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    lines = (proc.stderr or proc.stdout).strip().splitlines()
    return lines[0] if lines else "unknown"


def synthea_states(classpath: Sequence[str]) -> dict[str, str]:
    """``{name: USPS code}`` of the states Synthea 3.3.0 has demographics for, read from its jar."""
    main_jar = f"org.mitre.synthea_synthea-{SYNTHEA_VERSION}.jar"
    jar = next((p for p in classpath if Path(p).name == main_jar), None)
    if jar is None:
        raise ConfigError(f"the Synthea {SYNTHEA_VERSION} jar is not on the cached classpath: {SETUP_HINT}")
    with zipfile.ZipFile(jar) as zf, zf.open("geography/timezones.csv") as fh:
        rows = csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8"))
        return {r["STATE"]: r["ST"] for r in rows}


def resolve_state(state: str, states: dict[str, str]) -> str:
    """Synthea's name for ``state``: a full name (any case) or a two-letter code."""
    wanted = state.strip().lower()
    for name, code in states.items():
        if wanted in (name.lower(), code.lower()):
            return name
    raise ConfigError(f"unknown state {state!r}: Synthea has {', '.join(sorted(states))} "
                      "(full name or two-letter code)")


# --- output --------------------------------------------------------------------------------


def _count_rows(path: Path) -> int:
    """Data rows of a Synthea CSV: lines after the header (Synthea quotes no line breaks)."""
    opener = gzip.open if path.suffix == ".gz" else open
    lines = 0
    last = b"\n"
    with opener(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    lines += last != b"\n"  # a last line without its newline
    return max(lines - 1, 0)


def _gzip_file(path: Path) -> Path:
    """``x.csv`` -> ``x.csv.gz``, byte-reproducible (no name, mtime 0 in the gzip header)."""
    target = path.with_name(path.name + ".gz")
    with path.open("rb") as src, target.open("wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    path.unlink()
    return target


def _csv_tables(csv_dir: Path) -> dict[str, dict[str, Any]]:
    tables = {}
    for path in sorted(csv_dir.iterdir()):
        name = path.name.split(".", 1)[0]
        tables[name] = {"file": f"csv/{path.name}", "rows": _count_rows(path),
                        "bytes": path.stat().st_size, "sha256": sha256_file(path)}
    return tables


def _fhir_files(fhir_dir: Path) -> dict[str, Any]:
    files = sorted(p for p in fhir_dir.iterdir() if p.is_file())
    return {
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
        "sha256": {p.name: sha256_file(p) for p in files},
    }


def _clear(out: Path, force: bool) -> None:
    ours = [out / "csv", out / "fhir", out / MANIFEST_NAME, out / LOG_NAME, out / ".synthea-run"]
    present = [p for p in ours if p.exists()]
    if present and not force:
        raise ConfigError(f"{out} already holds a population ({', '.join(p.name for p in present)}); "
                          "use another --out or --force to replace it")
    for p in present:
        shutil.rmtree(p) if p.is_dir() else p.unlink()


# --- the run -------------------------------------------------------------------------------


def generate(request: GenerateRequest, *, progress: Callable[[str], None] | None = None,
             classpath: Sequence[str] | None = None, java: str | None = None) -> dict[str, Any]:
    """Run Synthea for ``request``; return (and write to ``out/population.json``) its manifest.

    ``progress`` receives the text of the single terminal line (start, updates, end);
    Synthea's own output goes to ``out/synthea.log``.
    """
    request.check()
    java = java or find_java()
    classpath = list(classpath or synthea_classpath())
    state = resolve_state(request.state, synthea_states(classpath))
    if state != request.state:
        request = replace(request, state=state)
    out = request.out.resolve()
    request = replace(request, out=out)
    out.mkdir(parents=True, exist_ok=True)
    _clear(out, request.force)
    work = out / ".synthea-run"
    work.mkdir()
    argv = build_command(request, classpath, work, java)
    say = progress or (lambda _text: None)
    label = (f"generating {request.population} patients, {state}, seed {request.seed}, "
             f"Synthea {SYNTHEA_VERSION}")
    say(f"{label} ...")
    started = time.monotonic()
    done = 0
    records: dict[str, int] = {}
    with (out / LOG_NAME).open("w", encoding="utf-8") as log:
        log.write(f"# {shown_command(argv)}\n# SYNTHEA_CLASSPATH: see {synthea_manifest()}\n")
        log.flush()
        proc = subprocess.Popen(argv, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, encoding="utf-8", errors="replace")
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if _PATIENT_LINE.match(line):
                done += 1
                say(f"{label} ... {done} records")
            elif m := _RECORDS_LINE.search(line):
                records = dict(zip(("total", "alive", "dead"), map(int, m.groups()), strict=True))
        rc = proc.wait()
    seconds = time.monotonic() - started
    if rc != 0:
        tail = "".join((out / LOG_NAME).read_text(encoding="utf-8", errors="replace").splitlines(True)[-15:])
        raise GenerateError(f"Synthea failed (exit {rc}); full output in {out / LOG_NAME}:\n{tail}")
    if not (work / "csv").is_dir():
        raise GenerateError(f"Synthea wrote no CSV under {work}; see {out / LOG_NAME}")
    (work / "csv").rename(out / "csv")
    if request.fhir:
        (work / "fhir").rename(out / "fhir")
    shutil.rmtree(work)
    if request.gzip:
        for path in sorted((out / "csv").glob("*.csv")):
            _gzip_file(path)
    tables = _csv_tables(out / "csv")
    manifest: dict[str, Any] = {
        "generator": "synthea",
        "synthea_version": SYNTHEA_VERSION,
        "synthea_artifact": SYNTHEA_ARTIFACT,
        "mlhops_version": __version__,
        "population": request.population,
        "state": state,
        "city": request.city,
        "seed": request.seed,
        "clinician_seed": request.seed,
        "reference_date": request.reference_date.isoformat(),
        "years_of_history": request.years_of_history,
        "fhir": request.fhir,
        "claims": request.claims,
        "gzip": request.gzip,
        "excluded_csv": list(excluded_csv(request)),
        "records": records,
        "command": shown_command(argv),
        "argv": [("$SYNTHEA_CLASSPATH" if i and argv[i - 1] == "-cp" else a) for i, a in enumerate(argv)],
        "classpath_manifest": str(synthea_manifest()),
        "mlhops_command": shlex.join(mlhops_command(request)),
        "tables": tables,
        "fhir_files": _fhir_files(out / "fhir") if request.fhir else None,
        # The only entries that differ between two runs of the same command:
        "run": {
            "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "seconds": round(seconds, 1),
            "java": java_version(java),
            "log": LOG_NAME,
        },
    }
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    total = sum(t["bytes"] for t in tables.values())
    who = (f"{records['total']} records ({records['alive']} alive, {records['dead']} dead)"
           if records else f"{done} records")
    say(f"{label} ... done in {seconds:.0f}s: {who}, {len(tables)} CSV tables, "
        f"{total / 1e6:.1f} MB -> {out}")
    return manifest
