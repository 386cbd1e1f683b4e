"""Synthetic agent runs: SQL-side bulk generation (demo, benchmark) and a small
Python generator whose rows tests insert and check independently."""

from __future__ import annotations

import random
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from agent_warehouse.db import run_script, sql, transaction
from tools import TOOLS_SQL

HOUR = timedelta(hours=1)
STATUSES = ("completed", "failed", "cancelled", "running", "queued")


def progress(done: int, total: int, label: str, width: int = 30) -> None:
    """A one-line progress bar on stderr."""
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def generate_hours(conn: Any, first_hour: datetime, hours: int, rows_per_hour: int,
                   workspaces: int, seed: float = 0.42, label: str = "loading runs") -> int:
    """Insert ``rows_per_hour`` generated runs into each of ``hours`` hours (SQL side)."""
    run_script(conn, TOOLS_SQL / "synthetic/ensure_partitions.sql", {
        "first_day": first_hour.date(), "end_day": (first_hour + hours * HOUR).date() + timedelta(days=1)})
    for i in range(hours):
        run_script(conn, TOOLS_SQL / "synthetic/generate_hour.sql", {
            "start": first_hour + i * HOUR, "rows": rows_per_hour, "workspaces": workspaces,
            "seed": (seed + i * 0.001) % 1,
        })
        progress(i + 1, hours, label)
    return hours * rows_per_hour


@dataclass
class Run:
    workspace_id: str
    user_id: str | None
    status: str
    started_at: datetime
    runtime_seconds: float | None
    credits_consumed: Decimal | None


def make_runs(rng: random.Random, start: datetime, n: int, workspaces: list[str],
              span: timedelta = HOUR) -> list[Run]:
    """``n`` runs in ``[start, start + span)``: skewed tenants, heavy-tailed runtimes."""
    runs = []
    users = {w: [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(5)] for w in workspaces}
    for _ in range(n):
        w = workspaces[min(int(len(workspaces) * rng.random() ** 2), len(workspaces) - 1)]
        status = rng.choices(STATUSES, weights=(80, 10, 4, 4, 2))[0]
        finished = status in ("completed", "failed", "cancelled")
        runtime = rng.lognormvariate(2.0, 1.2) * (rng.paretovariate(1.5) if rng.random() < 0.05 else 1)
        runs.append(Run(
            workspace_id=w,
            user_id=rng.choice(users[w]) if rng.random() > 0.05 else None,
            status=status,
            started_at=start + timedelta(microseconds=rng.randrange(int(span.total_seconds() * 1e6))),
            runtime_seconds=runtime if finished else None,
            credits_consumed=Decimal(f"{runtime * 0.01:.4f}") if finished else None,
        ))
    return runs


def insert_runs(conn: Any, runs: Iterable[Run], page_size: int = 10_000) -> None:
    """Insert ``runs`` in one transaction, one INSERT statement per page."""
    runs = list(runs)
    with transaction(conn) as cur:
        for first in range(0, len(runs), page_size):
            page = runs[first:first + page_size]
            cur.execute(sql(TOOLS_SQL / "synthetic/insert_runs.sql"),
                        {field.name: [getattr(r, field.name) for r in page] for field in fields(Run)})
