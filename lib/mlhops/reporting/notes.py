"""Short texts every report section uses: "not run yet", "nothing because ...", dates."""

from __future__ import annotations

from typing import Any

from mlhops.reporting.html import escape

NOT_RUN = '<p class="muted">The stage that writes <code>{}</code> has not run yet.</p>'


def not_run(name: str) -> str:
    """The "not run yet" note of a table (shown as ``mlhops/<table>``)."""
    return NOT_RUN.format(escape(name.replace(".", "/")))


def muted(text: str, *, raw: bool = False) -> str:
    """A plain "why there is nothing here" paragraph (``raw``: text is trusted HTML)."""
    return f'<p class="muted">{text if raw else escape(text)}</p>'


def day(v: Any) -> str:
    """A date (or timestamp) as YYYY-MM-DD; "" for None or NaN/NaT."""
    if v is None or (isinstance(v, float) and v != v) or str(v) == "NaT":
        return ""
    return str(v)[:10]
