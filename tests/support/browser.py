"""Headless Chromium (Debian's package) to check and screenshot the HTML report.

Used by the end-to-end test and ``scripts/report_screenshots.py``; not part of the product.
Flags follow what a closed network needs: no background networking, no sync, no first-run UI.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from mlhops.errors import MLHOpsError

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--virtual-time-budget=5000",
]
TIMEOUT_S = 120

# Appended to a copy of the report: counts images Chromium actually decoded.
_PROBE = (
    "<script>document.body.setAttribute('data-probe', JSON.stringify({"
    "plots: [...document.querySelectorAll('img.plot')].filter(i => i.complete && i.naturalWidth > 0).length,"
    "broken: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).length,"
    "sections: document.querySelectorAll('section').length}));</script>"
)


def chromium() -> str:
    """Path of the Chromium executable."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise MLHOpsError("Chromium not found: apt-get install chromium")


def _run(args: list[str]) -> str:
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
        )
    if proc.returncode != 0:
        raise MLHOpsError(f"chromium exited with {proc.returncode}: {proc.stderr[-400:]}")
    return proc.stdout


def render_probe(report: Path) -> dict[str, int]:
    """Load the report in Chromium; count decoded plots, broken images and sections."""
    import json

    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(report.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8")
        dom = _run(["--dump-dom", probe.as_uri()])
    m = re.search(r'data-probe="([^"]*)"', dom)
    if not m:
        raise MLHOpsError("report did not render in Chromium (no probe result in the DOM)")
    return {k: int(v) for k, v in json.loads(m.group(1).replace("&quot;", '"')).items()}


def screenshot(page: Path, out: Path, *, width: int = 1280, height: int = 2400) -> Path:
    """Full-width PNG screenshot of a page (top ``height`` pixels)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    _run([f"--window-size={width},{height}", f"--screenshot={out}", page.resolve().as_uri()])
    if not out.is_file() or out.stat().st_size == 0:
        raise MLHOpsError(f"no screenshot written to {out}")
    return out
