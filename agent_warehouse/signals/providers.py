"""The provider registry: what a signal provider is and which ones a run calls.

A provider has a ``name`` and ``fetch(start, end)`` returning rows (dicts with
``external_id``, ``company``, ``signal_type``, ``observed_at``, ``value``). One that delivers
in separate units (the file provider: one per file) also has ``deliveries(start, end)``:
each unit is then read, validated and stored on its own, and a unit with a ``source`` and a
``fingerprint`` already ingested is not read again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from agent_warehouse import settings

NAME_PATTERN = re.compile(r"[a-z0-9_-]{1,64}")  # stored in keys and logs: short and plain


class Provider(Protocol):
    name: str

    def fetch(self, start: datetime, end: datetime) -> Iterable[Any]: ...


@dataclass(frozen=True)
class Delivery:
    """One unit of a provider's delivery. ``read`` returns its records (rows, or
    :class:`~agent_warehouse.signals.validation.Malformed`); it raises :class:`Refused` for a
    unit refused whole. ``source`` (e.g. a file's path) and ``fingerprint`` (its size and
    modification time) record it, so an unchanged unit is skipped next time."""

    read: Callable[[], Iterable[Any]]
    source: str | None = None
    fingerprint: str | None = None
    size: int | None = None


class Refused(Exception):  # noqa: N818 - a verdict, not a failure
    """A whole delivery refused for a reason that will not change until it does (too large,
    no usable CSV header): recorded with ``reason`` and skipped until it changes."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


REGISTRY: dict[str, Callable[[], Provider]] = {}


def register(name: str) -> Callable[[Callable[[], Provider]], Callable[[], Provider]]:
    """Class decorator: make a provider available under ``name`` in AGENT_WAREHOUSE_SIGNALS_PROVIDERS."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"provider name {name!r} must match {NAME_PATTERN.pattern}")

    def add(factory: Callable[[], Provider]) -> Callable[[], Provider]:
        REGISTRY[name] = factory
        return factory

    return add


def configured_providers() -> list[Provider]:
    from agent_warehouse.signals import files, synthetic  # noqa: F401 - they register the built-ins

    names = settings.current().providers
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown signal provider(s) {unknown}; known: {sorted(REGISTRY)}")
    return [REGISTRY[n]() for n in names]


def deliveries(provider: Provider, start: datetime, end: datetime) -> list[Delivery]:
    """The provider's units for ``[start, end)``: its own, else its whole answer as one."""
    own = getattr(provider, "deliveries", None)
    if own is not None:
        return list(own(start, end))
    return [Delivery(read=lambda: provider.fetch(start, end))]
