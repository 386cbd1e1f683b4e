"""Settings of the self-checks: ``AGENT_WAREHOUSE_ANOMALY_*`` (pydantic-settings, like
``agent_warehouse.settings``, kept apart so the checks own their knobs)."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AnomalySettings(BaseSettings):
    """Field names are the variable names without ``AGENT_WAREHOUSE_ANOMALY_``."""

    model_config = SettingsConfigDict(env_prefix="AGENT_WAREHOUSE_ANOMALY_", extra="ignore", frozen=True)

    # Workspace-hours with fewer runs, now or on a baseline day, are not scored: below about
    # 30 runs an hour a p95 is one of the slowest two runs and a failure rate moves in steps
    # of 3 points or more.
    min_runs: int = Field(30, ge=1)
    # Baseline days (same hour of day, the 7 days before) with enough runs needed to score.
    min_baseline_days: int = Field(3, ge=1, le=7)
    # failure_rate: one-sided binomial z-score (continuity-corrected) against the pooled
    # baseline rate, and an absolute increase of at least min_rate_increase (so a very busy
    # workspace is not flagged for a statistically clear but tiny move).
    failure_z: float = Field(4.0, gt=0)
    min_rate_increase: float = Field(0.05, ge=0, le=1)
    # p95_runtime: one-sided binomial z-score of the hour's runs slower than the baseline p95
    # (median of the baseline hours' p95s) against the baseline's own share of such runs, and
    # a p95 at least min_p95_ratio times the baseline's (so "slower" means materially slower).
    p95_z: float = Field(4.0, gt=0)
    min_p95_ratio: float = Field(1.5, ge=1)
    # Where flagged workspace-hours are sent. Empty (the default): nowhere. "webhook": the
    # package's WebhookNotifier, POSTing {"text": ..., "anomalies": [...]} to webhook_url (a
    # Slack incoming webhook takes it as it is). Or an Airflow notifier class,
    # "module.path:ClassName" (e.g. airflow.providers.smtp.notifications.smtp:SmtpNotifier),
    # built with notifier_kwargs (JSON); its templated fields may use {{ anomalies_text }}.
    notifier: str = ""
    webhook_url: str = ""
    notifier_kwargs: dict[str, Any] = Field(default_factory=dict)


def anomaly_settings() -> AnomalySettings:
    """Read at each use (cheap), so a changed environment needs no restart of a worker."""
    return AnomalySettings()


class ReconcileSettings(BaseSettings):
    """``AGENT_WAREHOUSE_RECONCILE_*``."""

    model_config = SettingsConfigDict(env_prefix="AGENT_WAREHOUSE_RECONCILE_", extra="ignore", frozen=True)

    # The daily check reads the day's raw rows (while kept) to catch hourly rows gone wrong
    # after their hour was written and checked. One scan of the day summed per hour, but it
    # reads every raw row: at 200,000 runs an hour 2 to 4 times the day's rollup from its
    # partials, under a tenth of the day rolled up from raw (docs/checks.md, "Cost"). Off:
    # the day is checked against its hourly rows only; each hour is still checked against
    # its raw rows by the run that writes it.
    day_raw: bool = True


def reconcile_settings() -> ReconcileSettings:
    return ReconcileSettings()


class LinkSettings(BaseSettings):
    """``AGENT_WAREHOUSE_AIRFLOW_UI_URL``: where the pages link a check's Airflow run."""

    model_config = SettingsConfigDict(env_prefix="AGENT_WAREHOUSE_", extra="ignore", frozen=True)

    # The Airflow UI's base URL (e.g. https://airflow.example.com), for report pages read
    # away from the api-server (a copied file, a proxy under another path). Empty (the
    # default): links relative to the pages, which the plugin serves under /reports/ beside
    # the UI, so they follow whatever host and base path the reader used.
    airflow_ui_url: str = ""


def link_settings() -> LinkSettings:
    return LinkSettings()
