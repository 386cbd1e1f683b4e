"""Ingest: a registry of signal providers, each called on its own and stored on its own.

A provider is anything with a ``name`` and ``fetch(start, end)`` returning rows (dicts with
``external_id``, ``company``, ``signal_type``, ``observed_at``, ``value``). A provider that
raises or times out is logged and recorded in ``signals.provider_runs``, and the others go
on. Rows that fail validation are counted and set aside in ``signals.rejected_signals``
with the reason. Rows are keyed by (provider, external_id), so a rerun inserts nothing.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import random
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from agent_warehouse import settings
from agent_warehouse.db import run_script
from agent_warehouse.signals import SIGNAL_TYPES

log = logging.getLogger(__name__)


class Provider(Protocol):
    name: str

    def fetch(self, start: datetime, end: datetime) -> Iterable[Any]: ...


@dataclass(frozen=True)
class Malformed:
    """A row a provider could not even parse (a bad JSON line); rejected with ``reason``."""

    reason: str
    payload: dict[str, Any]


REGISTRY: dict[str, Callable[[], Provider]] = {}


def register(name: str) -> Callable[[Callable[[], Provider]], Callable[[], Provider]]:
    """Class decorator: make a provider available under ``name`` in AGENT_WAREHOUSE_SIGNALS_PROVIDERS."""

    def add(factory: Callable[[], Provider]) -> Callable[[], Provider]:
        REGISTRY[name] = factory
        return factory

    return add


def configured_providers() -> list[Provider]:
    names = settings.signals_providers()
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown signal provider(s) {unknown}; known: {sorted(REGISTRY)}")
    return [REGISTRY[n]() for n in names]


@register("file")
class FileProvider:
    """CSV (header row) and JSON Lines files in AGENT_WAREHOUSE_SIGNALS_DROP_DIR.

    Every file is read on every run; the (provider, external_id) key makes that harmless,
    and a file dropped late is still picked up.
    """

    name = "file"

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder or settings.signals_drop_dir())

    def fetch(self, start: datetime, end: datetime) -> Iterator[Any]:
        if not self.folder.is_dir():
            log.info("signal drop folder %s does not exist: nothing to read", self.folder)
            return
        for path in sorted(self.folder.iterdir()):
            if path.suffix == ".csv":
                with path.open(newline="") as fh:
                    yield from csv.DictReader(fh)
            elif path.suffix in (".jsonl", ".ndjson"):
                with path.open() as fh:
                    for number, line in enumerate(fh, 1):
                        if not line.strip():
                            continue
                        try:
                            yield json.loads(line)
                        except json.JSONDecodeError as exc:
                            yield Malformed("invalid_json", {"file": path.name, "line": number,
                                                             "text": line[:500], "error": str(exc)})


SYNTHETIC_COMPANIES = (
    "Acme Robotics", "Birch Analytics", "Cobalt Health", "Delta Freight", "Ember Energy",
    "Fjord Security", "Granite AI", "Harbor Pay", "Indigo Bio", "Juniper Labs", "Kite Mobility",
    "Lumen Foods", "Mosaic Learning", "Nimbus Cloud", "Orchid Retail", "Pylon Systems",
    "Quartz Legal", "Rivet Manufacturing", "Sable Media", "Tundra Climate",
)
_TYPE_SHARE = {"hiring": 0.3, "mention": 0.3, "traffic": 0.25, "product_launch": 0.1, "funding": 0.05}


@register("synthetic")
class SyntheticProvider:
    """Deterministic demo signals: the same hour always yields the same rows and ids.

    Each company's daily rate follows its own slow wave, so on any day some companies
    are accelerating (emerging) and others are quiet. Generated hour by hour, so hourly
    and daily ingests of the same time produce the same external ids.
    """

    name = "synthetic"

    def fetch(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        if hour < start:
            hour += timedelta(hours=1)
        while hour < end:
            yield from self._hour(hour)
            hour += timedelta(hours=1)

    @staticmethod
    def daily_rate(index: int, day: datetime) -> float:
        wave = math.sin(2 * math.pi * (day.toordinal() + 7 * index) / 45)
        return 1.0 + (index % 4) + 8.0 * max(0.0, wave) ** 3

    def _hour(self, hour: datetime) -> Iterator[dict[str, Any]]:
        rng = random.Random(f"synthetic-signals-{hour:%Y%m%d%H}")
        for index, company in enumerate(SYNTHETIC_COMPANIES):
            per_hour = self.daily_rate(index, hour) / 24
            for signal_type, share in _TYPE_SHARE.items():
                if rng.random() < per_hour * share:
                    yield {
                        "external_id": f"syn-{hour:%Y%m%d%H}-{index}-{signal_type}",
                        "company": company,
                        "signal_type": signal_type,
                        "observed_at": (hour + timedelta(minutes=rng.randrange(60))).isoformat(),
                        "value": round(rng.uniform(1, 100), 2),
                    }


def validate(row: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(clean row, None) or (None, reason)."""
    if isinstance(row, Malformed):
        return None, row.reason
    if not isinstance(row, dict):
        return None, "not_an_object"
    external_id = str(row.get("external_id") or "").strip()
    if not external_id:
        return None, "missing_external_id"
    company = str(row.get("company") or "").strip()
    if not company:
        return None, "missing_company"
    if len(company) > 200:
        return None, "company_too_long"
    signal_type = str(row.get("signal_type") or "").strip().lower()
    if signal_type not in SIGNAL_TYPES:
        return None, "unknown_signal_type"
    raw_ts = row.get("observed_at")
    try:
        observed = raw_ts if isinstance(raw_ts, datetime) else datetime.fromisoformat(str(raw_ts))
    except (TypeError, ValueError):
        return None, "invalid_observed_at"
    if observed.tzinfo is None:
        return None, "observed_at_without_timezone"
    try:
        value = float(row.get("value"))
    except (TypeError, ValueError):
        return None, "invalid_value"
    if not math.isfinite(value):
        return None, "invalid_value"
    return {"external_id": external_id, "company": company, "signal_type": signal_type,
            "observed_at": observed.isoformat(), "value": value}, None


def _jsonable(value: Any) -> Any:
    """A payload PostgreSQL's jsonb accepts (no NaN/Infinity, no custom types)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _rejection(reason: str, row: Any) -> dict[str, Any]:
    payload = _jsonable(row.payload if isinstance(row, Malformed) else row)
    if not isinstance(payload, dict):
        payload = {"row": payload}
    text = json.dumps(payload, sort_keys=True)
    return {"reason": reason, "payload": payload,
            "payload_hash": hashlib.sha256(f"{reason}|{text}".encode()).hexdigest()}


def _fetch_all(provider: Provider, start: datetime, end: datetime, timeout: float) -> list[Any]:
    # A thread so a hanging provider can be abandoned after `timeout`; it is not killed.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"signals-{provider.name}")
    try:
        return pool.submit(lambda: list(provider.fetch(start, end))).result(timeout=timeout)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def ingest(conn: Any, start: datetime, end: datetime, providers: list[Provider] | None = None,
           timeout: float | None = None) -> dict[str, Any]:
    """Call every provider for ``[start, end)``; store each one's rows in its own transaction.

    Returns ``{"inserted": n, "rejected": n, "failed": [names], "providers": {name: {...}}}``.
    Never raises for a provider's failure; raises only if the warehouse itself fails.
    """
    providers = configured_providers() if providers is None else providers
    timeout = settings.signals_provider_timeout() if timeout is None else timeout
    day = start.astimezone(UTC).date()
    report: dict[str, Any] = {"inserted": 0, "rejected": 0, "failed": [], "providers": {}}
    for provider in providers:
        status, error, rows = "success", None, []
        try:
            rows = _fetch_all(provider, start, end, timeout)
        except FutureTimeout:
            status, error = "timeout", f"provider {provider.name} timed out after {timeout:g} s"
        except Exception as exc:  # a provider's bug or outage must not stop the others
            status, error = "failed", f"provider {provider.name} failed: {exc!r}"[:2000]
        good, rejected = [], []
        for row in rows:
            clean, reason = validate(row)
            if clean is None:
                rejected.append(_rejection(reason, row))
            else:
                good.append(clean)
        if rejected and status == "success":
            status = "partial"
        if error:
            log.warning("signal ingest: %s (other providers go on)", error)
        if rejected:
            log.warning("signal ingest: %s delivered %d malformed rows, set aside in "
                        "signals.rejected_signals", provider.name, len(rejected))
        (inserted,), = run_script(conn, "signals/ingest_batch.sql", {
            "provider": provider.name, "day": day, "rows": json.dumps(good),
            "rejected": json.dumps(rejected), "status": status, "fetched": len(rows),
            "rejected_count": len(rejected), "error": error,
        })
        report["providers"][provider.name] = {"status": status, "fetched": len(rows),
                                              "inserted": int(inserted), "rejected": len(rejected),
                                              "error": error}
        report["inserted"] += int(inserted)
        report["rejected"] += len(rejected)
        if status in ("failed", "timeout"):
            report["failed"].append(provider.name)
        log.info("signal ingest: %s %s, %d fetched, %d new, %d rejected", provider.name, status,
                 len(rows), inserted, len(rejected))
    return report
