"""Flagged workspace-hours sent through an Airflow notifier, so a team routes them to Slack,
email or anything else with a notifier. Off by default: ``AGENT_WAREHOUSE_ANOMALY_NOTIFIER``
names the notifier (``checks/settings.py``). Each row is sent once (``notified_at``).
"""

from __future__ import annotations

import importlib
import json
import logging
import urllib.request
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

from agent_warehouse.checks.anomalies import describe
from agent_warehouse.checks.settings import AnomalySettings, anomaly_settings
from agent_warehouse.db import sql, transaction

if TYPE_CHECKING:
    from agent_warehouse.db import Connection

log = logging.getLogger(__name__)


class WebhookNotifier(BaseNotifier):
    """POST ``{"text": ..., "anomalies": [...]}`` as JSON to ``url`` (a Slack incoming webhook,
    a chat bridge, an alert router); ``text`` is templated."""

    template_fields: Sequence[str] = ("text",)

    def __init__(self, url: str, text: str = "{{ anomalies_text }}", timeout: float = 10.0) -> None:
        super().__init__()
        self.url, self.text, self.timeout = url, text, timeout

    def notify(self, context: Any) -> None:
        body = json.dumps({"text": self.text, "anomalies": context.get("anomalies", [])}, default=str).encode()
        request = urllib.request.Request(self.url, data=body, method="POST",  # noqa: S310 (URL from a setting)
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
            answer.read()


def build_notifier(s: AnomalySettings | None = None) -> BaseNotifier | None:
    """The configured notifier, or None when notifications are off."""
    s = s or anomaly_settings()
    if not s.notifier:
        return None
    if s.notifier == "webhook":
        if not s.webhook_url:
            raise ValueError("AGENT_WAREHOUSE_ANOMALY_NOTIFIER=webhook needs AGENT_WAREHOUSE_ANOMALY_WEBHOOK_URL")
        return WebhookNotifier(s.webhook_url, **s.notifier_kwargs)
    module, _, name = s.notifier.partition(":")
    if not name:
        raise ValueError(f"AGENT_WAREHOUSE_ANOMALY_NOTIFIER={s.notifier!r}: expected 'webhook' or 'module:Class'")
    return getattr(importlib.import_module(module), name)(**s.notifier_kwargs)


def notify_anomalies(conn: Connection, start: datetime, end: datetime, context: dict[str, Any] | None = None,
                     settings: AnomalySettings | None = None) -> int:
    """Send the flagged rows of [start, end) not yet sent; returns how many were sent (0 when
    notifications are off: the rows stay unsent, for a notifier configured later)."""
    notifier = build_notifier(settings)
    if notifier is None:
        return 0
    with transaction(conn) as cur:  # rows locked until sent and marked: sent once
        cur.execute(sql("checks/anomalies_to_notify.sql"), {"start": start, "end": end})
        rows = [dict(zip(("workspace_id", "hour", "metric", "value", "baseline", "score", "runs"), r, strict=True))
                for r in cur.fetchall()]
        if not rows:
            return 0
        text = (f"{len(rows)} workspace anomal{'y' if len(rows) == 1 else 'ies'} "
                f"({start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC):\n"
                + "\n".join(f"- {describe(r)}" for r in rows))
        ctx = dict(context or {})
        ctx.update({"anomalies": rows, "anomalies_text": text})
        notifier(ctx)
        cur.execute(sql("checks/mark_notified.sql"), {
            "workspaces": [r["workspace_id"] for r in rows], "hours": [r["hour"] for r in rows],
            "metrics": [r["metric"] for r in rows]})
    log.info("sent %s anomalies through %s", len(rows), type(notifier).__name__)
    return len(rows)
