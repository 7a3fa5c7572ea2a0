#!/usr/bin/env python
"""Screenshots of the rendered monitoring report, from headless Chromium.

Usage: .venv/bin/python scripts/report_screenshots.py [REPORT.html] [OUT_DIR]
Defaults: the latest report of ./warehouse/sites (run scripts/demo first) and docs/screenshots/.
Writes one PNG per report section (the page scrolled to each section's anchor) plus the top.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the browser helper lives with the tests, not in the product

from tests.support.browser import screenshot  # noqa: E402


def trim_bottom(png: Path, margin: int = 16) -> None:
    """Crop the empty page background under the last drawn row (sections differ in height)."""
    from PIL import Image, ImageChops

    with Image.open(png) as img:
        rgb = img.convert("RGB")
    bg = Image.new("RGB", rgb.size, rgb.getpixel((rgb.width - 1, rgb.height - 1)))
    box = ImageChops.difference(rgb, bg).getbbox()
    if box:
        rgb.crop((0, 0, rgb.width, min(rgb.height, box[3] + margin))).save(png)


def main(argv: list[str]) -> int:
    report = Path(argv[0]) if argv else REPO / "warehouse" / "sites" / "reports" / "latest.html"
    out_dir = Path(argv[1]) if len(argv) > 1 else REPO / "docs" / "screenshots"
    if not report.is_file():
        print(f"no report at {report}: run scripts/demo first", file=sys.stderr)
        return 2
    html = report.read_text(encoding="utf-8")
    anchors = re.findall(r'<section id="([^"]+)">', html)
    written = [screenshot(report, out_dir / "report-top.png", height=1000)]
    with tempfile.TemporaryDirectory() as tmp:
        for anchor in anchors:
            # a copy whose only visible section is this one, so each PNG shows one section whole
            css = f"<style>section{{display:none}} #{anchor}{{display:block}}</style></head>"
            page = Path(tmp) / f"{anchor}.html"
            page.write_text(html.replace("</head>", css, 1), encoding="utf-8")
            written.append(screenshot(page, out_dir / f"report-{anchor}.png", height=3200))
            trim_bottom(written[-1])
    for p in written:
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
