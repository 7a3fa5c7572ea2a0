"""Post new alerts to a webhook (JSON). Alerts carry no patient data, so the payload is safe."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger(__name__)

TIMEOUT_S = 10
RETRIES = 3


def post_alerts(url: str, alerts: Sequence[dict[str, Any]], *, run_id: str) -> bool:
    """POST ``{"run_id", "alerts": [...]}``; retries with back-off; never raises on HTTP errors.

    Returns True when the endpoint accepted the payload (2xx).
    """
    if not alerts:
        return True
    body = json.dumps({"source": "mlhops", "run_id": run_id, "alerts": list(alerts)}, default=str).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    for attempt in range(1, RETRIES + 1):
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310 - configured URL
                if 200 <= resp.status < 300:
                    logger.info("posted %d alert(s) to the webhook", len(alerts))
                    return True
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            logger.warning("webhook attempt %d/%d failed: %s", attempt, RETRIES, type(exc).__name__)
        time.sleep(min(2 ** (attempt - 1), 4) * 0.25)
    logger.error("webhook did not accept %d alert(s); they remain in mlhops/alerts", len(alerts))
    return False
