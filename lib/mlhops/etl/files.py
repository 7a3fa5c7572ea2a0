"""Input-file lineage: each file read and its content checksum (files are reached through
:mod:`mlhops.io.fs`, so local, DBFS and object stores work the same way)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mlhops.io.fs import file_size

_CHUNK = 1 << 20


@dataclass(frozen=True)
class InputFile:
    """One input file and its content checksum (lineage)."""

    path: str
    name: str
    size: int
    sha256: str


def checksum(spark: SparkSession, path: str) -> InputFile:
    """SHA-256 of one file's bytes (streamed on the driver for local files)."""
    size = file_size(spark, path)
    digest = hashlib.sha256()
    if path.startswith("file:") or "://" not in path:
        local = path[len("file:"):] if path.startswith("file:") else path
        with open(local, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                digest.update(chunk)
        sha = digest.hexdigest()
    else:
        # Remote stores: let Spark read the bytes (one file, one task).
        row = spark.read.format("binaryFile").load(path).select(F.sha2("content", 256).alias("h")).first()
        sha = row["h"] if row else hashlib.sha256(b"").hexdigest()
    return InputFile(path=path, name=path.rsplit("/", 1)[-1], size=size, sha256=sha)
