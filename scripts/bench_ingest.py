#!/usr/bin/env python
"""Ingest throughput: FHIR resources/s and DICOM headers/s at three sizes, Spark vs plain Python.

Inputs are replicated k times with fresh identifiers: every UUID in a FHIR bundle is rewritten
per copy (references stay consistent inside the copy); every DICOM file that parses gets new
Patient ID and study/series/SOP instance UIDs per copy (unreadable files are copied as they
are, as they would arrive). For each size, in the same process:

* Spark: FHIR bundles parsed on the executors (``fhir.read_records``, all records materialised)
  and DICOM headers parsed on the executors (``dicom.extract_instances``, instances counted);
* baseline: a plain single-process Python loop over the same files calling the same parsers
  (``fhir_resources.parse_file``, ``dicom_header.parse_header`` on each whole file's bytes);
* for DICOM also the executors' by-path reader in a plain loop (``dicom_read.parse_path``:
  header bytes only plus the whole-file SHA-256), where the tree has it.

Usage: .venv/bin/python scripts/bench_ingest.py [--fhir-bundles 4] [--sizes 1,2,4] [--out DIR]
[--sources fhir,dicom]. Prints a Markdown table and the machine note (a source left out shows "-").
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))
SHARED = REPO.parent / "shared" / "data"
_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _fresh_uuid(match: re.Match[bytes], copy: int) -> bytes:
    h = hashlib.sha256(match.group(0) + b"|" + str(copy).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}".encode()


def replicate_fhir(bundles: list[Path], dst: Path, copies: int) -> int:
    """Write ``copies`` copies of the bundles with fresh UUIDs; returns the number of resources."""
    import json

    dst.mkdir(parents=True)
    resources = 0
    for k in range(copies):
        for b in bundles:
            data = gzip.decompress(b.read_bytes())
            fresh = _UUID.sub(lambda m, k=k: _fresh_uuid(m, k), data)
            resources += len(json.loads(fresh).get("entry", []))
            (dst / f"bundle{k:03d}_{b.name[-20:]}").write_bytes(gzip.compress(fresh, compresslevel=1))
    return resources


def replicate_dicom(src: Path, dst: Path, copies: int) -> int:
    """Write ``copies`` copies of the DICOM files with fresh identifiers; returns files written."""
    import pydicom
    from pydicom.uid import generate_uid

    dst.mkdir(parents=True)
    files = [p for p in sorted(src.rglob("*")) if p.is_file() and "DICOMDIR" not in p.parts and p.name != "DICOMDIR"]
    n = 0
    for k in range(copies):
        for i, p in enumerate(files):
            out = dst / f"c{k:03d}_{i:04d}.dcm"
            try:
                ds = pydicom.dcmread(p, force=False)
                ds.PatientID = f"BENCH-{k}-{i}"
                for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
                    if kw in ds:
                        setattr(ds, kw, generate_uid(entropy_srcs=[kw, str(k), str(i)]))
                ds.save_as(out)
            except Exception:  # noqa: BLE001 - unreadable inputs are replicated byte for byte
                shutil.copy(p, out)
            n += 1
    return n


def _timed(fn):  # noqa: ANN001, ANN202
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def python_fhir(folder: Path) -> int:
    from mlhops.etl.sources.fhir_resources import parse_file

    return sum(len(parse_file(p.read_bytes())) for p in sorted(folder.iterdir()))


def python_dicom(folder: Path) -> int:
    from mlhops.etl.sources.dicom_header import parse_header

    return sum(1 for p in sorted(folder.iterdir()) if parse_header(p.read_bytes()) is not None)


def python_dicom_by_path(folder: Path) -> int | None:
    """The executors' reader in a plain loop: header bytes only, plus the whole-file SHA-256 the
    Spark side also computes (None: this tree predates ``dicom_read``)."""
    try:
        from mlhops.etl.sources.dicom_read import parse_path
    except ImportError:
        return None
    return sum(1 for p in sorted(folder.iterdir()) if parse_path(str(p)) is not None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fhir-bundles", type=int, default=4, help="patient bundles per copy")
    ap.add_argument("--sizes", default="1,2,4", help="copies of the inputs, comma-separated (three sizes)")
    ap.add_argument("--out", default=None, help="scratch folder (default: a temp dir, removed)")
    ap.add_argument("--sources", default="fhir,dicom", help="which inputs to measure: fhir, dicom or both")
    args = ap.parse_args()
    sources = set(args.sources.split(","))
    if not sources or sources - {"fhir", "dicom"}:
        ap.error("--sources takes fhir, dicom or fhir,dicom")
    os.environ.setdefault("MLHOPS_DEID_SALT", "bench-ingest")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from mlhops.config import load_settings
    from mlhops.etl.sources import dicom, fhir
    from mlhops.spark import get_spark

    scratch = Path(args.out or tempfile.mkdtemp(prefix="bench_ingest_"))
    settings = load_settings("local", warehouse=str(scratch / "wh"), conf_dir=REPO / "conf")
    spark = get_spark(settings)
    bundles = sorted(p for p in (SHARED / "synthea_ma115" / "fhir_r4").glob("*.json.gz")
                     if "Information" not in p.name)[: args.fhir_bundles]
    rows = []
    for k in [int(s) for s in args.sizes.split(",")]:
        fhir_row: tuple[str, ...] = ("-", "-", "-")
        dicom_row: tuple[str, ...] = ("-", "-", "-", "-", "-")
        if "fhir" in sources:
            fdir = scratch / f"fhir_{k}"
            n_res = replicate_fhir(bundles, fdir, k)
            _, t_fs = _timed(lambda fdir=fdir: fhir.read_records(spark, str(fdir))[0].count())
            _, t_fp = _timed(lambda fdir=fdir: python_fhir(fdir))
            fhir_row = (f"{n_res:,}", f"{n_res / t_fs:,.0f}", f"{n_res / t_fp:,.0f}")
        if "dicom" in sources:
            ddir = scratch / f"dicom_{k}"
            n_files = replicate_dicom(SHARED / "dicom_pydicom_test_files", ddir, k)
            n_inst, t_ds = _timed(lambda ddir=ddir: dicom.extract_instances(spark, [str(ddir)]).instances.count())
            _, t_dp = _timed(lambda ddir=ddir: python_dicom(ddir))
            n_read, t_dr = _timed(lambda ddir=ddir: python_dicom_by_path(ddir))
            by_path = "-" if n_read is None else f"{n_files / t_dr:,.0f}"
            dicom_row = (f"{n_files:,}", f"{n_inst:,}", f"{n_files / t_ds:,.0f}", f"{n_files / t_dp:,.0f}",
                         by_path)
        rows.append((str(k), *fhir_row, *dicom_row))
    spark.stop()
    print("| copies | FHIR resources | Spark res/s | Python res/s | DICOM files | instances | Spark hdr/s "
          "| Python hdr/s | Python by-path hdr/s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    load = os.getloadavg()
    print(f"\nmachine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} at the end of the run")
    if args.out is None:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
