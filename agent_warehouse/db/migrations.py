"""Versioned schema migrations: ``include/sql/migrations/NNNN_name.sql``.

Each file is applied once, in order, in its own transaction, and recorded in
``ops.schema_migrations`` with its checksum. A session-level advisory lock makes
concurrent callers queue instead of racing. ``python -m agent_warehouse.db.migrations``
is what ``make migrate`` runs.
"""

from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agent_warehouse import SQL_DIR
from agent_warehouse.db import one_row

if TYPE_CHECKING:
    import psycopg  # imported by whoever made the connection; not at DAG parse time

MIGRATIONS_DIR = SQL_DIR / "migrations"
# Arbitrary constant: the advisory-lock key shared by every migration runner.
LOCK_KEY = 7_310_001
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class SchemaNotCurrent(RuntimeError):
    """The warehouse schema is behind the package: run `make migrate`."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def available(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name must look like 0001_name.sql: {path.name}")
        found.append(Migration(int(match.group(1)), match.group(2), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration versions in {directory}")
    return found


_BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""


def _applied(cur: psycopg.Cursor) -> dict[int, str]:
    cur.execute("SELECT to_regclass('ops.schema_migrations') IS NOT NULL")
    if not one_row(cur)[0]:
        return {}
    cur.execute("SELECT version, checksum FROM ops.schema_migrations")
    return dict(cur.fetchall())


def migrate(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every pending migration; return the names applied. Safe to call any time."""
    applied_now: list[str] = []
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            cur.execute(_BOOTSTRAP)
            done = _applied(cur)
            for mig in available(directory):
                if mig.version in done:
                    if done[mig.version] != mig.checksum:
                        raise RuntimeError(
                            f"migration {mig.path.name} changed after it was applied; "
                            "add a new migration instead of editing an applied one"
                        )
                    continue
                with conn.transaction():
                    # No parameters: the whole file goes as one simple query.
                    cur.execute(mig.path.read_text())
                    cur.execute(
                        "INSERT INTO ops.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (mig.version, mig.name, mig.checksum),
                    )
                applied_now.append(mig.path.name)
        finally:
            cur.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    conn.autocommit = False
    return applied_now


def pending(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    with conn.cursor() as cur:
        done = _applied(cur)
    conn.rollback()
    return [m.path.name for m in available(directory) if m.version not in done]


def check_current(conn: psycopg.Connection) -> None:
    """Raise SchemaNotCurrent naming the missing migrations; DAGs call this before writing."""
    missing = pending(conn)
    if missing:
        raise SchemaNotCurrent(
            f"warehouse schema is not current, pending migrations: {', '.join(missing)}; "
            "run `make migrate` (or python -m agent_warehouse.db.migrations)"
        )


def main() -> int:
    from agent_warehouse.db import connect

    conn = connect()
    try:
        names = migrate(conn)
    finally:
        conn.close()
    print("applied: " + ", ".join(names) if names else "schema is current, nothing to apply")
    return 0


if __name__ == "__main__":
    sys.exit(main())
