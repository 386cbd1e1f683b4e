"""The ``synthetic`` provider: deterministic demo signals for 20 companies."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from agent_warehouse.signals.providers import register

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
