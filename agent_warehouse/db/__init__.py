"""Warehouse connections and the SQL files under ``include/sql``.

One driver, psycopg 3. Inside Airflow tasks connections come from the ``warehouse``
connection through ``PostgresHook``; command-line tools (``make migrate``, the demo, the
benchmark) and tests read the same ``AIRFLOW_CONN_WAREHOUSE`` URI and connect with
psycopg directly, without importing Airflow, with the same session options.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from agent_warehouse import SQL_DIR, settings

if TYPE_CHECKING:
    import psycopg

    # What every function that takes a warehouse connection is given: psycopg 3's, rows as tuples.
    Connection = psycopg.Connection[tuple[Any, ...]]

# psycopg is imported where a connection is made, not here: DAG files import this module,
# and psycopg's import would be paid at every parse (docs/performance.md).


@cache
def sql(name: str | Path) -> str:
    """The text of ``include/sql/<name>`` (an absolute path is read as it is)."""
    return (SQL_DIR / name).read_text()


@cache
def _libpq_keywords() -> frozenset[str]:
    from psycopg import pq

    return frozenset(d.keyword.decode() for d in pq.Conninfo.get_defaults())


def dsn_from_airflow_uri(uri: str) -> str:
    """The libpq conninfo of an Airflow connection URI.

    The host may be a URL-encoded socket folder (``postgresql://postgres@%2Fpath/db``);
    query parameters libpq knows (``sslmode``...) are kept, Airflow's own extras dropped.
    psycopg quotes every value, so a password with quotes or backslashes stays a password.
    """
    from psycopg.conninfo import make_conninfo

    parts = urlsplit(uri)
    # urlsplit lower-cases hostnames; a socket path must keep its case, so read the netloc.
    host = parts.netloc.rsplit("@", 1)[-1]
    host = host[1:host.find("]")] if host.startswith("[") else host.split(":")[0]  # IPv6 in brackets
    fields: dict[str, Any] = {k: v for k, v in parse_qsl(parts.query) if k in _libpq_keywords()}
    fields.update({
        "host": unquote(host) or None,
        "port": parts.port,
        "user": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "dbname": unquote(parts.path.lstrip("/")) or None,
    })
    return make_conninfo(**{k: v for k, v in fields.items() if v not in (None, "")})


def warehouse_dsn() -> str:
    uri = os.environ.get("AIRFLOW_CONN_WAREHOUSE")
    if not uri:
        raise RuntimeError(
            "AIRFLOW_CONN_WAREHOUSE is not set: run through `make` (it starts the embedded "
            "PostgreSQL) or export postgresql://user:pass@host:port/db"
        )
    return dsn_from_airflow_uri(uri)


def connect(dsn: str | None = None, **kwargs: Any) -> psycopg.Connection:
    """A psycopg connection outside Airflow, with the hook's statement and lock timeouts.

    Not in autocommit, like the hook's: commit or roll back (``transaction()``), and close it.
    """
    import psycopg
    from psycopg.conninfo import make_conninfo

    return psycopg.connect(make_conninfo(dsn or warehouse_dsn(), **settings.current().hook_params()), **kwargs)


def hook_connection() -> psycopg.Connection:
    """A connection through Airflow's ``warehouse`` connection (inside tasks)."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    hook = PostgresHook(postgres_conn_id=settings.WAREHOUSE_CONN_ID,
                        **settings.current().hook_params())  # type: ignore[arg-type]  # its **kwargs are libpq's
    # psycopg 3 with SQLAlchemy 2 installed (NOTES in docs/development.md); typed as the union of drivers
    return cast("psycopg.Connection[tuple[Any, ...]]", hook.get_conn())


def one_row(cur: psycopg.Cursor[tuple[Any, ...]]) -> tuple[Any, ...]:
    """The row a statement that always returns one gave: an error saying so, not a
    ``TypeError`` on ``None``, when it gave none."""
    row = cur.fetchone()
    if row is None:
        raise LookupError(f"expected one row, the statement returned none ({cur.statusmessage})")
    return row


@contextmanager
def transaction(conn: psycopg.Connection) -> Iterator[psycopg.Cursor]:
    """One transaction: commit on success, roll back on any error; the connection stays open."""
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
def statements(name: str | Path) -> tuple[str, ...]:
    """The statements of ``include/sql/<name>``, split by SQLExecuteQueryOperator's own splitter.

    psycopg binds parameters server-side, one statement at a time, so a file with
    parameters runs statement by statement, as the operator runs it with ``split_statements``.
    Cached per process: splitting rollup_hour.sql takes a good part of a second, and a weekly
    run from scratch rolls up 168 hours.
    """
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    return tuple(DbApiHook.split_sql_string(sql(name)))


def run_script_results(conn: psycopg.Connection, name: str | Path,
                       params: dict[str, Any]) -> list[tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
    """Run an SQL file statement by statement in one transaction; every statement's result
    as (column names, rows), both empty for a statement that returns none."""
    results: list[tuple[tuple[str, ...], list[tuple[Any, ...]]]] = []
    with transaction(conn) as cur:
        for statement in statements(name):
            cur.execute(statement, params)
            if cur.description:
                results.append((tuple(c.name for c in cur.description), cur.fetchall()))
            else:
                results.append(((), []))
    return results


def run_script(conn: psycopg.Connection, name: str | Path, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run an SQL file statement by statement in one transaction; return the last result."""
    results = run_script_results(conn, name, params)
    return results[-1][1] if results else []


@contextmanager
def warehouse() -> Iterator[Any]:
    """``with warehouse() as conn:`` a connection through the hook (inside tasks), closed
    however the block ends; each ``transaction(conn)`` inside commits on its own."""
    conn = hook_connection()
    try:
        yield conn
    finally:
        conn.close()
