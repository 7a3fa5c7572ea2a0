"""Minimal, safe HTML building: every text goes through ``escape``; no external resources."""

from __future__ import annotations

import html as _html
from collections.abc import Iterable, Sequence
from typing import Any

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}
header{background:#0b3d5c;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;font-size:13px;opacity:.85}
nav{background:#fff;border-bottom:1px solid #d0d7de;padding:8px 28px;font-size:13px}
nav a{margin-right:14px;color:#0b3d5c;text-decoration:none}
main{padding:8px 28px 40px;max-width:1200px}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;margin:16px 0;padding:14px 18px}
h2{font-size:18px;margin:4px 0 10px;color:#0b3d5c} h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0;width:100%}
th,td{border:1px solid #d0d7de;padding:4px 7px;text-align:left;vertical-align:top}
th{background:#eef2f6} td.num{text-align:right;font-variant-numeric:tabular-nums}
.sev-critical,.sev-high{color:#fff;background:#b42318;font-weight:600}
.sev-medium{background:#f79009} .sev-low{background:#fde68a} .sev-info{background:#e0f2fe}
.ok{color:#067647;font-weight:600} .fail{color:#b42318;font-weight:600} .muted{color:#57606a}
figure{margin:10px 0} figure img{max-width:100%;border:1px solid #eaeef2}
figcaption{font-size:12px;color:#57606a}
.kv td:first-child{width:220px;font-weight:600;background:#f6f8fa}
"""


def escape(value: Any) -> str:
    return _html.escape("" if value is None else str(value), quote=True)


def fmt(value: Any, digits: int = 3) -> str:
    """Numbers rounded for reading; None as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, float):
        if value != value:  # NaN
            return "—"
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, classes: Sequence[str] | None = None) -> str:
    """An HTML table; numeric cells right-aligned. ``classes`` gives a CSS class per column."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            cls = classes[i] if classes and i < len(classes) and classes[i] else ""
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                cls = (cls + " num").strip()
            text = v.html if isinstance(v, Raw) else fmt(v)
            cells.append(f'<td class="{cls}">{text}</td>' if cls else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        return '<p class="muted">No rows.</p>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class Raw:
    """Pre-built, trusted HTML (produced by this module) to put in a table cell."""

    def __init__(self, html: str) -> None:
        self.html = html


def badge(text: str, css: str) -> Raw:
    return Raw(f'<span class="{escape(css)}">&nbsp;{escape(text)}&nbsp;</span>')


def figure(png_b64: str, caption: str, alt: str) -> str:
    return (
        f'<figure><img class="plot" alt="{escape(alt)}" src="data:image/png;base64,{png_b64}"/>'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{escape(anchor)}"><h2>{escape(title)}</h2>{body}</section>'


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """Whole document: ``sections`` are (anchor, title, body_html)."""
    nav = "".join(f'<a href="#{escape(a)}">{escape(t)}</a>' for a, t, _ in sections)
    body = "".join(section(a, t, b) for a, t, b in sections)
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"/>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header>"
        f"<nav>{nav}</nav><main>{body}</main></body></html>"
    )
