"""File listing, first lines and checksums through Hadoop FS, so local, DBFS and object stores
all work the same way (no ``os`` calls on paths that may not be local)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

_CHUNK = 1 << 20


@dataclass(frozen=True)
class InputFile:
    """One input file and its content checksum (lineage)."""

    path: str
    name: str
    size: int
    sha256: str


def _fs(spark: SparkSession, path: str):  # noqa: ANN202 - py4j objects are untyped
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hpath


def list_files(spark: SparkSession, directory: str) -> list[str]:
    """Fully qualified paths of the plain files directly inside ``directory`` (sorted);
    empty when the directory does not exist."""
    fs, hpath = _fs(spark, directory)
    if not fs.exists(hpath):
        return []
    return sorted(str(st.getPath().toString()) for st in fs.listStatus(hpath) if st.isFile())


def read_first_line(spark: SparkSession, path: str) -> str:
    """The first line of a text file (gzip decoded), read on the driver without a Spark job."""
    jvm = spark.sparkContext._jvm
    fs, hpath = _fs(spark, path)
    stream = fs.open(hpath)
    try:
        codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(
            spark.sparkContext._jsc.hadoopConfiguration()
        ).getCodec(hpath)
        if codec is not None:
            stream = codec.createInputStream(stream)
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        line = reader.readLine()
    finally:
        stream.close()
    return (line or "").lstrip("\ufeff")


def checksum(spark: SparkSession, path: str) -> InputFile:
    """SHA-256 of one file's bytes (streamed through Hadoop FS on the driver)."""
    fs, hpath = _fs(spark, path)
    size = int(fs.getFileStatus(hpath).getLen())
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
