"""Stage ``alerts``: evaluate the YAML rules over the platform tables -> ``mlhops.alerts``.

Alerts are inserted once per (rule, subject, window): re-runs raise no duplicates. With a webhook
configured, new alerts are queued in the same commit and every queued, undelivered alert (this
run's and earlier failures) is posted: at least once (:mod:`mlhops.alerts.outbox`). The stage's status is ``alerts`` (exit code 3) when an alert at or above
``alerts.exit_severity`` concerns the latest window of its source table (or, when the request
gives ``start`` and ``end``, a window starting in ``[start, end)``). The stage reads many
optional tables and is always evaluated (cheap, idempotent).
"""

from __future__ import annotations

from mlhops.alerts.firing import raise_alerts
from mlhops.alerts.rules import load_rules, rules_path
from mlhops.alerts.outbox import deliver
from mlhops.io import table_version
from mlhops.io.tables.operations import ALERTS
from mlhops.pipelines.context import Context
from mlhops.pipelines.stage import NoOptions, StageRequest, StageResult


def run(ctx: Context, req: StageRequest[NoOptions]) -> StageResult:
    """Raise the alerts of the configured rules; post new ones to the webhook if configured."""
    settings = ctx.settings.alerts
    raised = raise_alerts(
        ctx.spark, ctx.catalog, load_rules(rules_path(settings)),
        run_id=req.run_id, exit_severity=settings.exit_severity, start=req.start, end=req.end,
        notify=bool(settings.webhook_url),
    )
    delivery = deliver(ctx.spark, ctx.catalog, settings.webhook_url, run_id=req.run_id) if settings.webhook_url else None
    metrics = {f"alerts_current.{k}": float(v) for k, v in raised.by_severity.items()}
    metrics["alerts_new"] = float(len(raised.new))
    metrics["alerts_firing"] = float(raised.firing)
    msg = f"{len(raised.new)} new alert(s); {raised.firing} at or above {settings.exit_severity} in scope"
    if delivery is not None:
        metrics |= {"webhook_delivered": float(delivery.delivered), "webhook_pending": float(delivery.pending)}
        msg += f"; webhook: {delivery.delivered} delivered" + (
            f", {delivery.pending} still queued (endpoint refused; retried next run)" if delivery.pending else "")
    version = table_version(ctx.spark, ctx.catalog, ALERTS)
    return StageResult(
        "alerts", "alerts" if raised.firing else "ok", msg, metrics=metrics,
        tables={ALERTS: version} if version is not None else {},
        details={"new_alert_ids": [r["alert_id"] for r in raised.new]},
    )
