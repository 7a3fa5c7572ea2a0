"""Files through Hadoop FS (py4j), so local folders, DBFS and object stores all work the same way.

The one place that talks to ``org.apache.hadoop.fs``: listings, existence, sizes and first lines
of input files. ``os`` is used only on paths that are local (:func:`local_path`), where it
answers without a JVM call per file; executors open files by path through :func:`open_file`
(plain ``open()`` for local paths, fsspec for the schemes it can serve).

A Spark Connect client has no JVM: there the same questions are asked of the client's own file
systems (``os`` for local paths, which is what a local Connect server and Databricks volumes
give, fsspec for other schemes), and names are given the way Hadoop gives them (``file:/...``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from pyspark.sql import SparkSession

from mlhops.io.connect import is_connect

LOCAL_SCHEME = "file"
# A URI scheme (RFC 3986) of two or more characters: one letter is a Windows drive.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):")
# Checksum side files of Hadoop's local file system (``.name.crc``), which its listing hides.
_HADOOP_CHECKSUM = re.compile(r"^\..*\.crc$")


def scheme(path: str) -> str:
    """The URI scheme of a path (``file`` for plain paths and Windows drive letters)."""
    found = _SCHEME.match(path)
    return found.group(1).lower() if found else LOCAL_SCHEME


def local_path(path: str) -> str | None:
    """The local file-system path of a plain path or a ``file:`` path; None for other schemes.

    Spark lists local files as Hadoop paths, ``file:/a/b c%d`` for ``/a/b c%d``: nothing is
    percent-encoded (a URI parser would also cut names at ``#`` or ``?``), so only the scheme
    and an empty or ``localhost`` authority (``file:///a``) are removed.
    """
    if scheme(path) != LOCAL_SCHEME:
        return None
    if path[: len(LOCAL_SCHEME) + 1].lower() != f"{LOCAL_SCHEME}:":
        return path
    rest = path[len(LOCAL_SCHEME) + 1 :]
    for authority in ("//localhost/", "///"):
        if rest.startswith(authority):
            return rest[len(authority) - 1 :]
    return rest


def readable_by_path(path: str) -> bool:
    """Whether an executor can open ``path`` itself: a local path, or a scheme fsspec can serve
    with default arguments here (else the caller ships the file's bytes through Spark)."""
    if local_path(path) is not None:
        return True
    try:
        import fsspec

        fsspec.filesystem(scheme(path))
    except Exception:  # noqa: BLE001 - not installed, no backend, or needs arguments: not usable
        return False
    return True


@contextmanager
def open_file(path: str) -> Iterator[BinaryIO]:
    """Open a file for binary reading on the machine running this code (see :func:`readable_by_path`).

    Raises:
        OSError: the file cannot be opened (as a failed Spark read, it fails the task).
    """
    local = local_path(path)
    if local is not None:
        with open(local, "rb", buffering=0) as fh:
            yield fh
        return
    import fsspec

    with fsspec.open(path, "rb") as fh:
        yield fh


def qualified(spark: SparkSession, path: str) -> str:
    """``path`` with the scheme of the file system Spark resolves it to: a bare path may be on
    DBFS or HDFS on a cluster (paths Spark listed already carry theirs: no JVM call)."""
    if scheme(path) != LOCAL_SCHEME or path.startswith(f"{LOCAL_SCHEME}:"):
        return path
    if is_connect(spark):  # the client resolves bare paths on its own file system
        return f"{LOCAL_SCHEME}:" + os.path.abspath(path)
    fs, hpath = hadoop_path(spark, path)
    return str(fs.makeQualified(hpath).toString())


def hadoop_path(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """``(FileSystem, Path)`` py4j objects of ``path`` (untyped JVM handles)."""
    jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hpath  # type: ignore[attr-defined]


def exists(spark: SparkSession, path: str) -> bool:
    """Whether a file or folder exists: asked of the OS for local paths, else of Hadoop."""
    local = local_path(qualified(spark, path))
    if local is not None:
        return os.path.exists(local)
    if is_connect(spark):
        fs, p = _client_fs(path)
        return bool(fs.exists(p))
    fs, hpath = hadoop_path(spark, path)
    return bool(fs.exists(hpath))


def file_size(spark: SparkSession, path: str) -> int:
    """Size of one file in bytes."""
    if is_connect(spark):
        local = local_path(qualified(spark, path))
        if local is not None:
            return os.path.getsize(local)
        fs, p = _client_fs(path)
        return int(fs.size(p))
    fs, hpath = hadoop_path(spark, path)
    return int(fs.getFileStatus(hpath).getLen())


def list_files(spark: SparkSession, directory: str) -> list[str]:
    """Fully qualified paths of the plain files directly inside ``directory`` (sorted);
    empty when the directory does not exist."""
    if is_connect(spark):
        return sorted(qualified(spark, directory).rstrip("/") + rel
                      for rel, _, _ in _client_tree(spark, directory, recursive=False))
    fs, hpath = hadoop_path(spark, directory)
    if not fs.exists(hpath):
        return []
    return sorted(str(st.getPath().toString()) for st in fs.listStatus(hpath) if st.isFile())


def list_tree(spark: SparkSession, root: str) -> list[tuple[str, int, int]]:
    """``(path relative to root, size, modification time)`` of every file under an existing
    ``root``, recursively, sorted."""
    if is_connect(spark):
        return _client_tree(spark, root, recursive=True)
    fs, hpath = hadoop_path(spark, root)
    base = fs.makeQualified(hpath).toString().rstrip("/")
    files = []
    it = fs.listFiles(hpath, True)
    while it.hasNext():
        st = it.next()
        files.append((st.getPath().toString()[len(base):], int(st.getLen()), int(st.getModificationTime())))
    return sorted(files)


def empty_files(spark: SparkSession, paths: list[str]) -> list[str]:
    """The empty files under ``paths`` (folders searched recursively), named as Hadoop's listing
    names them (the given path + the path below it).

    Local folders are walked with the OS (Hadoop's listing through py4j costs a few JVM calls per
    file: most of a run's time on thousands of small files); other file systems through Hadoop.
    """
    found: list[str] = []
    for p in paths:
        full = qualified(spark, p)
        local = local_path(full)
        if local is not None:
            found += _local_empty_files(p, local)
        elif exists(spark, full):
            found += [p.rstrip("/") + rel for rel, size, _ in list_tree(spark, p) if size == 0]
    return found


def _local_empty_files(given: str, root: str) -> list[str]:
    if not os.path.exists(root):
        return []
    if not os.path.isdir(root):
        return [given.rstrip("/")] if os.path.getsize(root) == 0 else []
    base = root.rstrip("/")
    found = []
    for folder, _, names in os.walk(base):
        for name in names:
            if _HADOOP_CHECKSUM.match(name):  # Hadoop's local file system hides these
                continue
            full = os.path.join(folder, name)
            if os.path.isfile(full) and os.path.getsize(full) == 0:
                found.append(given.rstrip("/") + full[len(base):])
    return found


def read_first_line(spark: SparkSession, path: str) -> str:
    """The first line of a text file (gzip decoded), read on the driver without a Spark job.

    Raises:
        OSError: on a Spark Connect client, a file that cannot be read or decoded (a classic
            session raises py4j's error for the same).
    """
    if is_connect(spark):
        return _client_first_line(qualified(spark, path))
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


def _client_fs(path: str) -> tuple[Any, str]:
    """``(fsspec file system, path in it)`` of a non-local path, on a Spark Connect client."""
    import fsspec

    return fsspec.core.url_to_fs(path)


def _client_tree(spark: SparkSession, root: str, *, recursive: bool) -> list[tuple[str, int, int]]:
    """:func:`list_tree` on a Spark Connect client (``recursive=False``: the files directly in
    ``root``); names relative to ``root`` as given, each starting with ``/``."""
    local = local_path(qualified(spark, root))
    if local is not None:
        if not os.path.isdir(local):
            return []
        found = []
        base = local.rstrip("/")
        for folder, dirs, names in os.walk(base):
            for name in names:
                full = os.path.join(folder, name)
                if _HADOOP_CHECKSUM.match(name) or not os.path.isfile(full):
                    continue
                st = os.stat(full)
                found.append((full[len(base):], int(st.st_size), int(st.st_mtime * 1000)))
            if not recursive:
                dirs.clear()
        return sorted(found)
    fs, p = _client_fs(root)
    if not fs.exists(p):
        return []
    infos = fs.find(p, withdirs=False, detail=True) if recursive else {
        i["name"]: i for i in fs.ls(p, detail=True) if i.get("type") == "file"}
    base = p.rstrip("/")
    return sorted(
        (name[len(base):], int(info.get("size") or 0), int(float(info.get("mtime") or 0) * 1000))
        for name, info in infos.items()
    )


def _client_first_line(path: str) -> str:
    """The first line of a (possibly gzip- or bzip2-compressed, by its extension, as Hadoop
    decides) text file on a Spark Connect client."""
    import fsspec

    local = local_path(path)
    with fsspec.open(local if local is not None else path, "rt", encoding="utf-8", compression="infer") as fh:
        line = fh.readline()
    return line.rstrip("\r\n").lstrip("\ufeff")
