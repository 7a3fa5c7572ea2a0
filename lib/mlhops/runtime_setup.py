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


# --- version floors, checked when a session is created (mlhops.spark.get_spark) ---------------
# The Spark SQL functions mlhops.stats and mlhops.drift call through pyspark.sql.functions. The
# newest, kll_merge_agg_double (SPARK-54785), is in Spark 4.1.2; the others since 4.1.0 (KLL) or
# 3.5.0 (HLL). Databricks ships them from Runtime 18.0 (Spark 4.1.0 plus backports).
REQUIRED_SPARK_FUNCTIONS = (
    "kll_merge_agg_double",
    "kll_sketch_agg_double",
    "kll_sketch_get_quantile_double",
    "kll_sketch_get_rank_double",
    "hll_union_agg",
    "hll_sketch_estimate",
)
MIN_SPARK = (4, 1, 2)
MIN_DATABRICKS_RUNTIME = (18, 0)
# delta-spark 4.4.0 is the first release accepting pyspark 4.1.2+; 4.4.1 has no jars on Maven.
MIN_DELTA = (4, 4, 0)
BAD_DELTA = {(4, 4, 1)}
# The last Apache-2.0 release of alibi-detect; later ones are under the Business Source License,
# which bars production use in a hospital. On Python 3.12 the wheel cannot require it (its own
# pins have no 3.12 wheels): it is installed with --no-deps, so start-up checks it is there.
ALIBI_DETECT_VERSION = "0.11.4"


def _version_tuple(text: str) -> tuple[int, ...]:
    """``"4.1.2"`` / ``"4.2.0.dev1"`` / ``"18.1"`` -> (4, 1, 2) / (4, 2, 0) / (18, 1)."""
    return tuple(int(m) for m in re.findall(r"\d+", text.split("-")[0])[:3])


def _dotted(v: tuple[int, ...]) -> str:
    return ".".join(map(str, v))


def version_problems(
    *,
    spark_version: str,
    functions: set[str],
    delta_version: str | None,
    delta_jars: str,
    databricks_runtime: str | None = None,
    alibi_detect_version: str | None = ALIBI_DETECT_VERSION,
) -> list[str]:
    """What keeps this Spark/Delta from running mlhops (empty when all is well).

    Args:
        spark_version: the session's (server's) Spark version, ``spark.version``.
        functions: the names ``pyspark.sql.functions`` defines (the client side).
        delta_version: the installed delta-spark package's version, None when not installed.
        delta_jars: ``spark.delta_jars``; with ``provided`` the platform's own Delta is used and
            the delta-spark package is not needed.
        databricks_runtime: ``$DATABRICKS_RUNTIME_VERSION`` on Databricks (its Spark version
            number lags the functions it ships), else None.
        alibi_detect_version: the installed alibi-detect's version, None when not installed.
    """
    problems = []
    if alibi_detect_version != ALIBI_DETECT_VERSION:
        problems.append(
            (f"alibi-detect {alibi_detect_version} is installed" if alibi_detect_version else "alibi-detect is not installed")
            + f": mlhops needs alibi-detect {ALIBI_DETECT_VERSION} (its last Apache-2.0 release); "
            f"pip install --no-deps alibi-detect=={ALIBI_DETECT_VERSION} (on Python 3.11 plain pip resolves it)"
        )
    missing = [f for f in REQUIRED_SPARK_FUNCTIONS if f not in functions]
    if missing:
        problems.append(
            f"pyspark lacks {', '.join(missing)} (mlhops needs pyspark >= {_dotted(MIN_SPARK)}: "
            "pip install 'mlhops[spark]', or a runtime that has them)"
        )
    if databricks_runtime:
        if _version_tuple(databricks_runtime)[:2] < MIN_DATABRICKS_RUNTIME:
            problems.append(
                f"Databricks Runtime {databricks_runtime} is too old: mlhops needs "
                f"{_dotted(MIN_DATABRICKS_RUNTIME)} or later (KLL sketch functions)"
            )
    elif _version_tuple(spark_version) < MIN_SPARK:
        problems.append(
            f"Spark {spark_version} is too old: mlhops needs Spark >= {_dotted(MIN_SPARK)} "
            "(kll_merge_agg_double)"
        )
    if delta_jars != "provided":
        if delta_version is None:
            problems.append(
                f"spark.delta_jars is {delta_jars!r} but delta-spark is not installed: "
                "pip install 'mlhops[spark]'"
            )
        elif _version_tuple(delta_version) < MIN_DELTA or _version_tuple(delta_version) in BAD_DELTA:
            problems.append(
                f"delta-spark {delta_version} does not match: mlhops needs delta-spark >= "
                f"{_dotted(MIN_DELTA)}, not {', '.join(_dotted(v) for v in sorted(BAD_DELTA))}"
            )
    return problems


def installed_version(dist: str) -> str | None:
    """The installed distribution's version, or None."""
    from importlib.metadata import PackageNotFoundError

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def check_versions(spark_version: str, delta_jars: str) -> None:
    """Refuse to run on a Spark or Delta without what mlhops uses, with what to do instead.

    Raises:
        ConfigError: one sentence per problem (see :func:`version_problems`).
    """
    import pyspark.sql.functions as F

    from mlhops.errors import ConfigError

    problems = version_problems(
        spark_version=spark_version,
        functions=set(dir(F)),
        delta_version=installed_version("delta-spark"),
        delta_jars=delta_jars,
        databricks_runtime=os.environ.get("DATABRICKS_RUNTIME_VERSION"),
        alibi_detect_version=installed_version("alibi-detect"),
    )
    if problems:
        raise ConfigError("; ".join(problems))


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
