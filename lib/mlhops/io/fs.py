"""Files through Hadoop FS (py4j), so local folders, DBFS and object stores all work the same way.

The one place that talks to ``org.apache.hadoop.fs``: listings, existence, sizes and first lines
of input files. No ``os`` calls on paths that may not be local.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession


def hadoop_path(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """``(FileSystem, Path)`` py4j objects of ``path`` (untyped JVM handles)."""
    jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hpath  # type: ignore[attr-defined]


def exists(spark: SparkSession, path: str) -> bool:
    """Whether a file or folder exists."""
    fs, hpath = hadoop_path(spark, path)
    return bool(fs.exists(hpath))


def file_size(spark: SparkSession, path: str) -> int:
    """Size of one file in bytes."""
    fs, hpath = hadoop_path(spark, path)
    return int(fs.getFileStatus(hpath).getLen())


def list_files(spark: SparkSession, directory: str) -> list[str]:
    """Fully qualified paths of the plain files directly inside ``directory`` (sorted);
    empty when the directory does not exist."""
    fs, hpath = hadoop_path(spark, directory)
    if not fs.exists(hpath):
        return []
    return sorted(str(st.getPath().toString()) for st in fs.listStatus(hpath) if st.isFile())


def list_tree(spark: SparkSession, root: str) -> list[tuple[str, int, int]]:
    """``(path relative to root, size, modification time)`` of every file under an existing
    ``root``, recursively, sorted."""
    fs, hpath = hadoop_path(spark, root)
    base = fs.makeQualified(hpath).toString().rstrip("/")
    files = []
    it = fs.listFiles(hpath, True)
    while it.hasNext():
        st = it.next()
        files.append((st.getPath().toString()[len(base):], int(st.getLen()), int(st.getModificationTime())))
    return sorted(files)


def read_first_line(spark: SparkSession, path: str) -> str:
    """The first line of a text file (gzip decoded), read on the driver without a Spark job."""
    jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
    fs, hpath = hadoop_path(spark, path)
    stream = fs.open(hpath)
    try:
        codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(
            spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
        ).getCodec(hpath)
        if codec is not None:
            stream = codec.createInputStream(stream)
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        line = reader.readLine()
    finally:
        stream.close()
    return (line or "").lstrip("\ufeff")
