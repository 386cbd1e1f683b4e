"""Ingest: call every configured provider for a window and store what it delivers.

Each provider is called on its own (a thread with a timeout), and each of its deliveries (a
drop file, or the whole answer of a provider without separate deliveries) is read, validated
line by line and stored in its own transaction: a bad line is set aside in
``signals.rejected_signals`` with its reason (:mod:`.validation`), a bad file is recorded in
``signals.provider_files`` and the other files go on, a failing provider is recorded in
``signals.provider_runs`` and the other providers go on. Rows are keyed by (provider,
external_id), so a rerun inserts nothing; drop files already read are not read again.

The registry and the built-in providers live in :mod:`.providers`, :mod:`.files` and
:mod:`.synthetic`; their names are re-exported here.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, TypeVar

import psycopg
from psycopg import errors

from agent_warehouse import settings
from agent_warehouse.db import run_script, statements, transaction
from agent_warehouse.signals.files import FileProvider
from agent_warehouse.signals.providers import (
    REGISTRY,
    Delivery,
    Provider,
    Refused,
    configured_providers,
    deliveries,
    register,
)
from agent_warehouse.signals.synthetic import SyntheticProvider
from agent_warehouse.signals.validation import Malformed, SignalRow, rejection, validate

__all__ = ["REGISTRY", "FileProvider", "Malformed", "Provider", "SignalRow", "SyntheticProvider",
           "configured_providers", "ingest", "register", "validate"]

log = logging.getLogger(__name__)
T = TypeVar("T")

# What PostgreSQL answers for a value validation should have refused: the delivery is then
# stored in halves until the rows it refuses are found and set aside ("not_storable").
STORAGE_ERRORS = (errors.DataError, errors.IntegrityError, errors.ProgramLimitExceeded, UnicodeError)


def _call(fn: Callable[[], T], name: str, deadline: float) -> T:
    """``fn()`` in a thread, abandoned at ``deadline`` (monotonic): a hanging provider cannot
    hold the ingest. The thread is not killed."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FutureTimeout
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"signals-{name}")
    try:
        return pool.submit(fn).result(timeout=remaining)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def ingest(conn: psycopg.Connection, start: datetime, end: datetime, providers: list[Provider] | None = None,
           timeout: float | None = None) -> dict[str, Any]:
    """Call every provider for ``[start, end)`` and store what each delivers.

    Returns ``{"inserted": n, "rejected": n, "failed": [names], "providers": {name: {"status",
    "fetched", "inserted", "rejected", "skipped", "error"}}}`` (``skipped``: deliveries already
    read). Never raises for a provider's, a file's or a line's fault; only if the warehouse fails.
    """
    providers = configured_providers() if providers is None else providers
    timeout = settings.current().signals_provider_timeout_seconds if timeout is None else timeout
    day = start.astimezone(UTC).date()
    report: dict[str, Any] = {"inserted": 0, "rejected": 0, "failed": [], "providers": {}}
    for provider in providers:
        outcome = _ingest_provider(conn, provider, start, end, day, timeout)
        run_script(conn, "signals/record_provider_run.sql", {
            "provider": provider.name, "day": day, "window_start": start, "window_end": end,
            "status": outcome["status"], "fetched": outcome["fetched"], "inserted": outcome["inserted"],
            "rejected_count": outcome["rejected"], "error": outcome["error"]})
        report["providers"][provider.name] = outcome
        report["inserted"] += outcome["inserted"]
        report["rejected"] += outcome["rejected"]
        if outcome["status"] in ("failed", "timeout"):
            report["failed"].append(provider.name)
        if outcome["error"]:
            log.warning("signal ingest: %s: %s (the others go on)", provider.name, outcome["error"])
        if outcome["rejected"]:
            log.warning("signal ingest: %s delivered %d bad lines, set aside in signals.rejected_signals",
                        provider.name, outcome["rejected"])
        log.info("signal ingest: %s %s, %d fetched, %d new, %d rejected, %d deliveries unchanged",
                 provider.name, outcome["status"], outcome["fetched"], outcome["inserted"],
                 outcome["rejected"], outcome["skipped"])
    return report


def _read_all(unit: Any) -> list[Any]:
    """Every record of one unit of a delivery (a file), read in the provider's thread."""
    return list(unit.read())


def _ingest_provider(conn: psycopg.Connection, provider: Provider, start: datetime, end: datetime,
                     day: date, timeout: float) -> dict[str, Any]:
    name = provider.name
    out: dict[str, Any] = {"status": "success", "fetched": 0, "inserted": 0, "rejected": 0, "skipped": 0,
                           "error": None}
    problems: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        units = _call(lambda: deliveries(provider, start, end), name, deadline)
    except FutureTimeout:
        return {**out, "status": "timeout", "error": f"provider {name} timed out after {timeout:g} s"}
    except Exception as exc:  # a provider's bug or outage must not stop the others
        return {**out, "status": "failed", "error": _text(f"provider {name} failed: {exc!r}")}
    already = _already_read(conn, name, units)
    for unit in units:
        if unit.source is not None and unit.fingerprint is not None and already.get(unit.source) == unit.fingerprint:
            out["skipped"] += 1
            continue
        try:
            records = _call(partial(_read_all, unit), name, deadline)
        except FutureTimeout:
            out["status"], out["error"] = "timeout", f"provider {name} timed out after {timeout:g} s"
            break
        except Exception as exc:
            if unit.source is None:
                out["status"], out["error"] = "failed", _text(f"provider {name} failed: {exc!r}")
                break
            status = "refused" if isinstance(exc, Refused) else "failed"  # failed: tried again next run
            problems.append(f"{unit.source} {status}: {exc}")
            _record_file(conn, name, unit, status=status, error=_text(str(exc)))
            continue
        inserted, rejected = _store(conn, name, day, unit, records)
        out["fetched"] += len(records)
        out["inserted"] += inserted
        out["rejected"] += rejected
    if problems:
        out["error"] = _text("; ".join(filter(None, [out["error"], *problems])))
    if out["status"] == "success" and (problems or out["rejected"]):
        out["status"] = "partial"
    return out


def _text(message: str) -> str:
    """An error message as PostgreSQL stores it (no NUL), of a readable length."""
    return message.replace("\x00", "")[:2000]


def _already_read(conn: psycopg.Connection, provider: str, units: Sequence[Delivery]) -> dict[str, str]:
    paths = [u.source for u in units if u.source is not None and u.fingerprint is not None]
    if not paths:
        return {}
    return dict(run_script(conn, "signals/files_read.sql", {"provider": provider, "paths": paths}))


def _record_file(conn: psycopg.Connection, provider: str, unit: Delivery, *, status: str, lines: int = 0,
                 inserted: int = 0, rejected: int = 0, error: str | None = None,
                 cur: psycopg.Cursor | None = None) -> None:
    if unit.source is None:
        return
    params = {"provider": provider, "path": unit.source, "fingerprint": unit.fingerprint, "size": unit.size,
              "status": status, "lines": lines, "inserted": inserted, "rejected_count": rejected, "error": error}
    if cur is None:
        run_script(conn, "signals/record_file.sql", params)
    else:
        cur.execute(statements("signals/record_file.sql")[0], params)


def _store(conn: psycopg.Connection, provider: str, day: date, unit: Delivery,
           records: list[Any]) -> tuple[int, int]:
    """Validate one delivery's records and store them, its rejected lines and (for a file) its
    record in one transaction. (inserted, rejected)."""
    good, rejected = [], []
    for record in records:
        clean, reason = validate(record)
        if clean is None:
            rejected.append(rejection(reason or "unprocessable", record))
        else:
            good.append(clean)
    try:
        with transaction(conn) as cur:
            inserted = _insert(cur, provider, good)
            _set_aside(conn, cur, provider, day, unit, len(records), inserted, rejected)
        return inserted, len(rejected)
    except STORAGE_ERRORS as exc:
        log.warning("signal ingest: PostgreSQL refused a row of %s %s (%s): finding it",
                    provider, unit.source or "", type(exc).__name__)
    inserted, refused = _insert_bisecting(conn, provider, good)
    rejected += refused
    with transaction(conn) as cur:
        _set_aside(conn, cur, provider, day, unit, len(records), inserted, rejected)
    return inserted, len(rejected)


def _set_aside(conn: psycopg.Connection, cur: psycopg.Cursor, provider: str, day: date, unit: Delivery,
               lines: int, inserted: int, rejected: list[dict[str, Any]]) -> None:
    if rejected:
        cur.execute(statements("signals/record_rejected.sql")[0],
                    {"provider": provider, "day": day, "rejected": json.dumps(rejected)})
    _record_file(conn, provider, unit, status="ingested", lines=lines, inserted=inserted,
                 rejected=len(rejected), cur=cur)


def _insert(cur: psycopg.Cursor, provider: str, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    params = {"provider": provider, "rows": json.dumps(rows)}
    for statement in statements("signals/insert_signals.sql"):
        cur.execute(statement, params)
    (count,) = cur.fetchone() or (0,)
    return int(count)


def _insert_bisecting(conn: psycopg.Connection, provider: str,
                      rows: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
    """Rows in halves, each half in its own transaction, until the single rows PostgreSQL
    refuses are found: (inserted, their rejections)."""
    if not rows:
        return 0, []
    try:
        with transaction(conn) as cur:
            return _insert(cur, provider, rows), []
    except STORAGE_ERRORS as exc:
        if len(rows) == 1:
            return 0, [rejection("not_storable", {"row": rows[0], "error": str(exc)})]
    middle = len(rows) // 2
    first, first_refused = _insert_bisecting(conn, provider, rows[:middle])
    second, second_refused = _insert_bisecting(conn, provider, rows[middle:])
    return first + second, first_refused + second_refused
