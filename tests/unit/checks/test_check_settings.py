"""The self-checks' settings: documented defaults, AGENT_WAREHOUSE_ANOMALY_* overrides, and
the notifier off unless configured."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent_warehouse.checks.notify import WebhookNotifier, build_notifier
from agent_warehouse.checks.settings import AnomalySettings, anomaly_settings


def test_defaults_and_notifier_off(monkeypatch):
    for name in ("NOTIFIER", "WEBHOOK_URL", "MIN_RUNS"):
        monkeypatch.delenv(f"AGENT_WAREHOUSE_ANOMALY_{name}", raising=False)
    s = anomaly_settings()
    assert (s.min_runs, s.min_baseline_days, s.failure_z, s.min_rate_increase, s.p95_z, s.min_p95_ratio) == (
        30, 3, 4.0, 0.05, 4.0, 1.5)
    assert build_notifier(s) is None


def test_environment_overrides_and_notifiers(monkeypatch):
    monkeypatch.setenv("AGENT_WAREHOUSE_ANOMALY_MIN_RUNS", "50")
    monkeypatch.setenv("AGENT_WAREHOUSE_ANOMALY_NOTIFIER", "webhook")
    monkeypatch.setenv("AGENT_WAREHOUSE_ANOMALY_WEBHOOK_URL", "http://alerts.example/hook")
    s = anomaly_settings()
    assert s.min_runs == 50
    notifier = build_notifier(s)
    assert isinstance(notifier, WebhookNotifier) and notifier.url == "http://alerts.example/hook"

    smtp = AnomalySettings(notifier="airflow.providers.smtp.notifications.smtp:SmtpNotifier",
                           notifier_kwargs={"to": "oncall@example.com", "subject": "anomalies",
                                            "html_content": "{{ anomalies_text }}"})
    assert type(build_notifier(smtp)).__name__ == "SmtpNotifier"
    with pytest.raises(ValueError, match="WEBHOOK_URL"):
        build_notifier(AnomalySettings(notifier="webhook", webhook_url=""))
    with pytest.raises(ValueError, match="module:Class"):
        build_notifier(AnomalySettings(notifier="nonsense"))
    monkeypatch.setenv("AGENT_WAREHOUSE_ANOMALY_MIN_RUNS", "0")
    with pytest.raises(ValidationError, match="min_runs"):
        anomaly_settings()
