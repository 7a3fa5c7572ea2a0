"""Which paths are local, and which an executor can open by path: the rules the DICOM reader
(and any reader of files by path on executors) relies on."""

from mlhops.io import fs


def test_only_local_paths_and_schemes_fsspec_can_serve_are_opened_by_path():
    assert fs.local_path("C:/data/x.dcm") == "C:/data/x.dcm"  # a drive, not a scheme
    assert fs.local_path("s3a://bucket/x.dcm") is None
    assert fs.local_path("dbfs:/mnt/x.dcm") is None
    assert fs.readable_by_path("file:/data/x.dcm")
    assert fs.readable_by_path("memory://bucket/x.dcm")  # fsspec's in-memory file system
    assert not fs.readable_by_path("nosuchfs://bucket/x.dcm")
    # fsspec's DBFS client needs a workspace and a token: not usable with defaults.
    assert not fs.readable_by_path("dbfs:/mnt/x.dcm")
    assert fs.scheme("ABFSS://c@a.dfs.core.windows.net/x") == "abfss"
