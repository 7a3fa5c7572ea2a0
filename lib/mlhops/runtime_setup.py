"""Set-up helpers run by scripts/demo and scripts/test: cache the Delta Lake jars.

``python -m mlhops.runtime_setup fetch-jars`` resolves ``io.delta:delta-spark`` (matching the
installed delta-spark and pyspark versions) with Spark's own Ivy resolver into
``$MLHOPS_CACHE/ivy`` once, and records the resolved jar list. At run time
:func:`cached_delta_jars` returns that list, so no session ever downloads anything.
"""

from __future__ import annotations

import json
import os
import re
import sys
from importlib.metadata import version
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("MLHOPS_CACHE", Path.home() / ".cache" / "mlhops"))


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
    from pyspark.sql import SparkSession

    ivy = cache_dir() / "ivy"
    ivy.mkdir(parents=True, exist_ok=True)
    artifact = delta_artifact()
    print(f"[setup] resolving {artifact} from Maven Central into {ivy}", file=sys.stderr)
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("mlhops-fetch-jars")
        .config("spark.jars.packages", artifact)
        .config("spark.jars.ivy", str(ivy))
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.stop()
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


def main(argv: list[str]) -> int:
    if argv[:1] == ["fetch-jars"]:
        fetch_jars()
        return 0
    print("usage: python -m mlhops.runtime_setup fetch-jars", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
