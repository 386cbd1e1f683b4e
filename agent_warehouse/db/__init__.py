"""Warehouse connections and the SQL files under ``include/sql``.

Inside Airflow tasks connections come from the ``warehouse`` connection through
``PostgresHook``; command-line tools (``make migrate``, the demo, the benchmark)
read the same ``AIRFLOW_CONN_WAREHOUSE`` URI without importing Airflow.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg2
import psycopg2.extensions
import sqlparse

from agent_warehouse import SQL_DIR, settings


@cache
def sql(name: str) -> str:
    """The text of ``include/sql/<name>``."""
    return (SQL_DIR / name).read_text()


def dsn_from_airflow_uri(uri: str) -> str:
    """Turn an Airflow connection URI (host may be a URL-encoded socket folder) into a libpq DSN."""
    parts = urlsplit(uri)
    fields = {
        "host": unquote(parts.hostname or "") if parts.hostname else None,
        "port": parts.port,
        "user": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "dbname": unquote(parts.path.lstrip("/")) or None,
    }
    # urlsplit lower-cases hostnames; a socket path must keep its case.
    netloc_host = parts.netloc.rsplit("@", 1)[-1]
    if netloc_host.startswith("%2F") or netloc_host.startswith("%2f"):
        fields["host"] = unquote(netloc_host.split(":")[0])
    return " ".join(f"{k}='{v}'" for k, v in fields.items() if v not in (None, ""))


def warehouse_dsn() -> str:
    uri = os.environ.get("AIRFLOW_CONN_WAREHOUSE")
    if not uri:
        raise RuntimeError(
            "AIRFLOW_CONN_WAREHOUSE is not set: run through `make` (it starts the embedded "
            "PostgreSQL) or export postgresql://user:pass@host:port/db"
        )
    return dsn_from_airflow_uri(uri)


def connect(dsn: str | None = None, **kwargs: Any) -> psycopg2.extensions.connection:
    """A plain psycopg2 connection with the package's statement and lock timeouts."""
    return psycopg2.connect(dsn or warehouse_dsn(), **settings.hook_params(), **kwargs)


def hook_connection() -> Any:
    """A connection through Airflow's ``warehouse`` connection (inside tasks; psycopg 3)."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    hook = PostgresHook(postgres_conn_id=settings.WAREHOUSE_CONN_ID, **settings.hook_params())
    return hook.get_conn()


@contextmanager
def transaction(conn: Any) -> Iterator[Any]:
    """One transaction: commit on success, roll back on any error.

    Works for psycopg2 connections (command-line tools, tests) and the psycopg 3
    connections PostgresHook hands out inside tasks; the connection stays open.
    """
    cur = conn.cursor()
    try:
        yield cur
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        cur.close()


@cache
def statements(name: str) -> tuple[str, ...]:
    """The statements of ``include/sql/<name>``, split the way SQLExecuteQueryOperator splits them
    (once per process: sqlparse takes a good part of a second on rollup_hour.sql, and a weekly
    run from scratch rolls up 168 hours)."""
    return tuple(s for s in sqlparse.split(sqlparse.format(sql(name), strip_comments=True)) if s.strip())


def run_script(conn: Any, name: str, params: dict[str, Any]) -> list[tuple]:
    """Run an SQL file statement by statement in one transaction; return the last result."""
    rows: list[tuple] = []
    with transaction(conn) as cur:
        for statement in statements(name):
            cur.execute(statement, params)
            rows = cur.fetchall() if cur.description else []
    return rows


@contextmanager
def warehouse() -> Iterator[Any]:
    """``with warehouse() as conn:`` a connection through the hook (inside tasks), closed
    however the block ends; each ``transaction(conn)`` inside commits on its own."""
    conn = hook_connection()
    try:
        yield conn
    finally:
        conn.close()
