"""Set-up refuses to start a multi-GB install that cannot fit, naming the file system, what it
would write there and what to do, instead of pip failing mid-install with Errno 28."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GIB = 1024**3


def _need_disk(tmp_path: Path, *pairs: str) -> subprocess.CompletedProcess[str]:
    script = f'source "{REPO}/scripts/_bootstrap.sh"; _mlhops_need_disk "$@"'
    return subprocess.run(["bash", "-c", script, "bash", *pairs], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                               "MLHOPS_LOG_DIR": str(tmp_path / "logs")})


def test_set_up_goes_on_when_the_space_it_needs_is_free(tmp_path):
    done = _need_disk(tmp_path, f"{tmp_path / 'venv'}:0", f"{tmp_path}:0")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_set_up_stops_before_installing_when_a_file_system_is_too_full(tmp_path):
    free_gib = shutil.disk_usage(tmp_path).free // GIB
    missing = tmp_path / "not" / "made" / "yet"  # judged by the folder that exists above it
    done = _need_disk(tmp_path, f"{missing}:{free_gib + 2}")
    assert done.returncode == 2
    assert "not enough disk space" in done.stderr and str(missing) in done.stderr
    assert f"{free_gib} GiB are free" in done.stderr
    assert "TMPDIR, PIP_CACHE_DIR or MLHOPS_VENV" in done.stderr


def test_folders_on_one_file_system_add_up(tmp_path):
    half = shutil.disk_usage(tmp_path).free // GIB // 2 + 1
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for alone in ("a", "b"):
        assert _need_disk(tmp_path, f"{tmp_path / alone}:{half}").returncode == 0
    both = _need_disk(tmp_path, f"{tmp_path / 'a'}:{half}", f"{tmp_path / 'b'}:{half}")
    assert both.returncode == 2
    assert f"about {2 * half} GiB" in both.stderr
