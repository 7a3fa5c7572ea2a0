"""Set-up helpers run by scripts/demo and scripts/test: cache the Delta Lake and Synthea jars.

``python -m mlhops.runtime_setup fetch-jars`` resolves ``io.delta:delta-spark`` (matching the
installed delta-spark and pyspark versions) with Spark's own Ivy resolver into
``$MLHOPS_CACHE/ivy`` once, and records the resolved jar list. At run time
:func:`cached_delta_jars` returns that list, so no session ever downloads anything.

``python -m mlhops.runtime_setup fetch-synthea`` does the same for the synthetic-patient generator
(:data:`SYNTHEA_ARTIFACT`, pinned, with its dependencies) into ``$MLHOPS_CACHE/synthea/ivy`` and
records the classpath, with each jar's size and SHA-256, in ``$MLHOPS_CACHE/synthea-jars.json``;
``mlhops generate`` runs it from there (:func:`cached_synthea_classpath`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from importlib.metadata import version
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("MLHOPS_CACHE", Path.home() / ".cache" / "mlhops"))


def _ivy_resolve(artifact: str, ivy: Path, app_name: str) -> None:
    """Resolve ``artifact`` and its dependencies into ``ivy`` with Spark's own Ivy (a throwaway
    local session; the network is needed once)."""
    from pyspark.sql import SparkSession

    ivy.mkdir(parents=True, exist_ok=True)
    print(f"[setup] resolving {artifact} from Maven Central into {ivy}", file=sys.stderr)
    spark = (
        SparkSession.builder.master("local[1]")
        .appName(app_name)
        .config("spark.jars.packages", artifact)
        .config("spark.jars.ivy", str(ivy))
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.stop()


def delta_artifact() -> str:
    """Maven coordinate of the Delta jar matching the installed Python packages."""
    spark_mm = ".".join(version("pyspark").split(".")[:2])
    return f"io.delta:delta-spark_{spark_mm}_2.13:{version('delta-spark')}"


def _manifest() -> Path:
    return cache_dir() / "delta-jars.json"


def cached_delta_jars() -> list[str] | None:
    """Jar paths recorded by ``fetch-jars`` for the installed versions, or None."""
    try:
        data = json.loads(_manifest().read_text())
    except (FileNotFoundError, ValueError):
        return None
    if data.get("artifact") != delta_artifact():
        return None
    jars = [str(j) for j in data.get("jars", [])]
    return jars if jars and all(Path(j).is_file() for j in jars) else None


def fetch_jars() -> list[str]:
    """Resolve the Delta jars into the cache (network needed once), return their paths."""
    jars = cached_delta_jars()
    if jars:
        return jars
    ivy = cache_dir() / "ivy"
    artifact = delta_artifact()
    _ivy_resolve(artifact, ivy, "mlhops-fetch-jars")
    jars = _not_shipped_by_spark(sorted((ivy / "jars").glob("*.jar")))
    if not any("delta-spark" in Path(j).name for j in jars):
        raise SystemExit(f"[setup] could not resolve {artifact}; is Maven Central reachable?")
    _manifest().write_text(json.dumps({"artifact": artifact, "jars": jars}, indent=2))
    return jars


def _artifact_name(jar_file: str) -> str:
    """``org.x_name-1.2.3.jar`` / ``name-1.2.3.jar`` -> ``name`` (version stripped)."""
    stem = jar_file.rsplit(".jar", 1)[0]
    stem = stem.split("_", 1)[1] if "_" in stem.split("-")[0] else stem
    return re.sub(r"-\d[\w.\-]*$", "", stem)


def _not_shipped_by_spark(jars: list[Path]) -> list[str]:
    """Drop resolved jars whose artifact pyspark already ships (jackson, parquet, hadoop...).

    Two versions of one library on the classpath is how subtle cluster failures start; Spark's
    own copy is the one its other jars were built against.
    """
    import pyspark

    shipped = {_artifact_name(p.name) for p in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    return [str(j) for j in jars if _artifact_name(j.name) not in shipped]


# Synthea (Apache-2.0) from Maven Central. The version is pinned here; its dependencies are the
# versions its own POM names (Ivy resolves them once; the manifest records what it found).
SYNTHEA_VERSION = "3.3.0"
SYNTHEA_ARTIFACT = f"org.mitre.synthea:synthea:{SYNTHEA_VERSION}"


def synthea_manifest() -> Path:
    """Where ``fetch-synthea`` records the resolved classpath."""
    return cache_dir() / "synthea-jars.json"


def cached_synthea_classpath() -> list[str] | None:
    """Jar paths recorded by ``fetch-synthea`` for :data:`SYNTHEA_ARTIFACT`, or None when the
    set-up has not run (or its jars were removed since)."""
    try:
        data = json.loads(synthea_manifest().read_text())
    except (FileNotFoundError, ValueError):
        return None
    if data.get("artifact") != SYNTHEA_ARTIFACT:
        return None
    jars = [str(j["path"]) for j in data.get("jars", [])]
    return jars if jars and all(Path(j).is_file() for j in jars) else None


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_synthea() -> list[str]:
    """Resolve Synthea and its dependencies into the cache (network needed once); return the
    classpath. Spark's Ivy does the resolving, in a throwaway session with its own Ivy home (so
    the Delta jars and these never mix); nothing of it is put on any Spark classpath."""
    jars = cached_synthea_classpath()
    if jars:
        return jars
    ivy = cache_dir() / "synthea" / "ivy"
    _ivy_resolve(SYNTHEA_ARTIFACT, ivy, "mlhops-fetch-synthea")
    found = sorted((ivy / "jars").glob("*.jar"))
    main_jar = f"org.mitre.synthea_synthea-{SYNTHEA_VERSION}.jar"
    if not any(p.name == main_jar for p in found):
        raise SystemExit(f"[setup] could not resolve {SYNTHEA_ARTIFACT}; is Maven Central reachable?")
    # The Synthea jar first: its synthea.properties and resources must win over any dependency's.
    found.sort(key=lambda p: (p.name != main_jar, p.name))
    entries = [{"path": str(p), "bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in found]
    synthea_manifest().write_text(
        json.dumps({"artifact": SYNTHEA_ARTIFACT, "main_class": "App", "jars": entries}, indent=2)
    )
    print(f"[setup] {len(entries)} jars, {sum(e['bytes'] for e in entries) / 1e6:.0f} MB, "
          f"classpath in {synthea_manifest()}", file=sys.stderr)
    return [e["path"] for e in entries]


USAGE = "usage: python -m mlhops.runtime_setup {fetch-jars|fetch-synthea}"


def main(argv: list[str]) -> int:
    if argv[:1] == ["fetch-jars"]:
        fetch_jars()
        return 0
    if argv[:1] == ["fetch-synthea"]:
        fetch_synthea()
        return 0
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
