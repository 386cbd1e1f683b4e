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
from typing import Annotated, Any, Protocol

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    FiniteFloat,
    ValidationError,
)
from pydantic_core import to_json

from agent_warehouse import settings
from agent_warehouse.db import run_script
from agent_warehouse.signals import SignalType

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
    names = settings.current().providers
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
        self.folder = Path(folder or settings.current().signals_drop_dir)

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


def _iso_text(value: Any) -> Any:
    # An ISO 8601 text or a datetime; a bare number (pydantic would read unix time) is not a time.
    if not isinstance(value, str | datetime):
        raise ValueError("observed_at must be an ISO 8601 time")
    return value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


class SignalRow(BaseModel):
    """One provider row as the warehouse stores it; anything else is set aside with a reason."""

    model_config = ConfigDict(str_strip_whitespace=True, coerce_numbers_to_str=True, extra="ignore")

    external_id: str = Field(min_length=1)
    company: str = Field(min_length=1, max_length=200)
    signal_type: Annotated[SignalType, BeforeValidator(_lower)]
    observed_at: Annotated[AwareDatetime, BeforeValidator(_iso_text)]
    value: FiniteFloat


# The reason stored for a row's first invalid field; (field, pydantic error type) when it depends on how.
_REASONS = {
    "external_id": "missing_external_id", "company": "missing_company",
    ("company", "string_too_long"): "company_too_long", "signal_type": "unknown_signal_type",
    "observed_at": "invalid_observed_at", ("observed_at", "timezone_aware"): "observed_at_without_timezone",
    "value": "invalid_value",
}


def validate(row: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(clean row, None) or (None, reason)."""
    if isinstance(row, Malformed):
        return None, row.reason
    try:
        return SignalRow.model_validate(row).model_dump(mode="json"), None
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "model_type":
            return None, "not_an_object"
        field = first["loc"][0]
        return None, _REASONS.get((field, first["type"]), _REASONS[field])


def _rejection(reason: str, row: Any) -> dict[str, Any]:
    # jsonb takes no NaN/Infinity and no custom types: those become strings.
    payload = json.loads(to_json(row.payload if isinstance(row, Malformed) else row,
                                 inf_nan_mode="strings", fallback=str))
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
    timeout = settings.current().signals_provider_timeout_seconds if timeout is None else timeout
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
            "provider": provider.name, "day": day, "window_start": start, "window_end": end,
            "rows": json.dumps(good),
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
