"""Deployment entry points: what docker-compose.yaml runs besides Airflow's own commands.

``python -m agent_warehouse.deploy init`` is the whole of the ``airflow-init`` service, and the
compose test runs the same command (tests/integration/deploy/test_compose_run.py):

1. reads its secrets (``NAME_FILE``, a Docker secret, else ``NAME``) and refuses empty,
   short or placeholder values before anything is written;
2. when started as root (compose runs it as ``0:0``), gives the bind-mounted folders named by
   ``--chown`` to the worker uid (``AIRFLOW_UID``, group 0), then drops to that uid, so nothing
   it or Airflow writes afterwards belongs to root;
3. ``airflow db migrate`` (Airflow's metadata database, and the FAB tables when FAB is the
   auth manager);
4. migrates the warehouse that ``AIRFLOW_CONN_WAREHOUSE`` points to, connected there as the
   warehouse's owner (``WAREHOUSE_OWNER_USER``, password from ``WAREHOUSE_OWNER_PASSWORD``),
   then creates or updates the login of ``AIRFLOW_CONN_WAREHOUSE`` with its password and
   grants it ``agent_warehouse_job`` only; a login that is the owner, a superuser, or holds
   any other power is refused, since every task would run with it;
5. the ``warehouse_writers`` pool and the FAB admin (``AIRFLOW_ADMIN_USER``, password from
   ``AIRFLOW_ADMIN_PASSWORD``; reset to the secret's value on every start, so rotating the
   secret rotates the password).

Safe to run again at any time: every step is create-or-update.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from agent_warehouse.db import Connection

# Values people leave in an example file; any secret containing or equal to one is refused.
PLACEHOLDER_PARTS = ("change-me", "changeme", "change_me", "placeholder", "example")
PLACEHOLDER_VALUES = {"secret", "password", "token", "admin", "airflow"}
MIN_SECRET_LENGTH = 16
JOB_ROLE = "agent_warehouse_job"


class DeployError(RuntimeError):
    """A deployment input is missing or unsafe; the message says which and what to do."""


def read_secret(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """``NAME_FILE`` (a Docker secret under /run/secrets) if set, else ``NAME``; None if neither."""
    env = os.environ if env is None else env
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise DeployError(f"{name}_FILE={path} cannot be read: {exc}") from exc
    return env.get(name)


def secret_problem(name: str, value: str | None) -> str | None:
    """Why ``value`` is not acceptable as the secret ``name``; None when it is."""
    lowered = (value or "").strip().lower()
    if not lowered:
        return f"{name} is not set"
    if lowered in PLACEHOLDER_VALUES or any(p in lowered for p in PLACEHOLDER_PARTS):
        return (f"{name} is a placeholder: set a random value "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    if len(lowered) < MIN_SECRET_LENGTH:
        return f"{name} is shorter than {MIN_SECRET_LENGTH} characters"
    return None


def fernet_problem(value: str | None) -> str | None:
    if not value:
        return "AIRFLOW__CORE__FERNET_KEY is not set"
    from cryptography.fernet import Fernet

    try:
        Fernet(value.encode())
    except (ValueError, TypeError):
        return ("AIRFLOW__CORE__FERNET_KEY is not a Fernet key (python -c 'from cryptography.fernet "
                "import Fernet; print(Fernet.generate_key().decode())')")
    return None


@dataclass(frozen=True)
class Inputs:
    """Everything ``init`` needs, read once (before any privilege is dropped)."""

    warehouse_uri: str
    job_user: str
    job_password: str | None
    owner_user: str
    owner_password: str
    admin_user: str
    admin_password: str | None
    pool_slots: int
    uid: int


def job_login(uri: str) -> tuple[str, str | None]:
    """The login and password of an Airflow connection URI."""
    parts = urlsplit(uri)
    if not parts.username:
        raise DeployError("AIRFLOW_CONN_WAREHOUSE names no login: postgresql://user:password@host:port/db")
    return unquote(parts.username), unquote(parts.password) if parts.password else None


def uses_fab(env: Mapping[str, str]) -> bool:
    return "fab" in env.get("AIRFLOW__CORE__AUTH_MANAGER", "").lower()


def read_inputs(env: Mapping[str, str] | None = None) -> Inputs:
    """Read and check every input; raise DeployError listing all problems at once."""
    env = os.environ if env is None else env
    problems: list[str] = []
    uri = env.get("AIRFLOW_CONN_WAREHOUSE", "")
    job_user, job_password = job_login(uri) if uri else ("", None)
    if not uri:
        problems.append("AIRFLOW_CONN_WAREHOUSE is not set")
    owner_user = env.get("WAREHOUSE_OWNER_USER", "")
    owner_password = read_secret("WAREHOUSE_OWNER_PASSWORD", env)
    admin_password = read_secret("AIRFLOW_ADMIN_PASSWORD", env) if uses_fab(env) else None
    if not owner_user:
        problems.append("WAREHOUSE_OWNER_USER is not set")
    elif owner_user == job_user:
        problems.append(f"AIRFLOW_CONN_WAREHOUSE logs in as the owner {owner_user!r}: tasks need a login "
                        "of their own (the job login)")
    checked = {
        "INTERNAL_JOB_TOKEN": env.get("INTERNAL_JOB_TOKEN"),
        "AIRFLOW__API_AUTH__JWT_SECRET": env.get("AIRFLOW__API_AUTH__JWT_SECRET"),
        "AIRFLOW__API__SECRET_KEY": env.get("AIRFLOW__API__SECRET_KEY"),
        "WAREHOUSE_OWNER_PASSWORD": owner_password,
        "the password of AIRFLOW_CONN_WAREHOUSE (WAREHOUSE_JOB_PASSWORD)": job_password,
    }
    if uses_fab(env):
        checked["AIRFLOW_ADMIN_PASSWORD"] = admin_password
    problems += [p for name, value in checked.items() if (p := secret_problem(name, value))]
    if p := fernet_problem(env.get("AIRFLOW__CORE__FERNET_KEY")):
        problems.append(p)
    try:
        pool_slots = int(env.get("AGENT_WAREHOUSE_POOL_SLOTS", "8"))
        uid = int(env.get("AIRFLOW_UID", "50000"))
    except ValueError as exc:
        raise DeployError(f"AGENT_WAREHOUSE_POOL_SLOTS and AIRFLOW_UID must be integers: {exc}") from exc
    if problems:
        raise DeployError("refusing to start:\n  " + "\n  ".join(problems))
    return Inputs(uri, job_user, job_password, owner_user, owner_password or "",
                  env.get("AIRFLOW_ADMIN_USER", "admin"), admin_password, pool_slots, uid)


# ------------------------------------------------------------------ files and privileges
def give_to(paths: Iterable[str | Path], uid: int, gid: int = 0) -> int:
    """chown every entry under ``paths`` not already ``uid:gid`` (Docker creates missing bind
    mounts as root; the workers run as ``uid``). Returns how many entries changed."""
    changed = 0
    for top in map(Path, paths):
        top.mkdir(parents=True, exist_ok=True)
        entries = [top]
        for root, dirs, files in os.walk(top):
            entries += [Path(root, n) for n in dirs + files]
        for entry in entries:
            st = entry.lstat()
            if (st.st_uid, st.st_gid) != (uid, gid):
                os.lchown(entry, uid, gid)
                changed += 1
        top.chmod(top.stat().st_mode | 0o070)  # group 0 may write too, as Airflow's image expects
    return changed


def drop_privileges(uid: int, gid: int = 0) -> None:
    """Become ``uid:gid`` for good (only root can; a no-op for anyone else)."""
    if os.geteuid() != 0 or uid == 0:
        return
    import pwd

    os.setgroups([gid])
    os.setgid(gid)
    os.setuid(uid)
    with contextlib.suppress(KeyError):  # Airflow's image: uid 50000 is `airflow`, home /home/airflow
        os.environ["HOME"] = pwd.getpwuid(uid).pw_dir


# ------------------------------------------------------------------ the warehouse
def owner_dsn(inputs: Inputs) -> str:
    """Where AIRFLOW_CONN_WAREHOUSE points (host, port, database, TLS options), as the owner."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from agent_warehouse.db import dsn_from_airflow_uri

    fields = conninfo_to_dict(dsn_from_airflow_uri(inputs.warehouse_uri))
    fields.update(user=inputs.owner_user, password=inputs.owner_password or None)
    return make_conninfo("", **{k: v for k, v in fields.items() if v is not None})


def check_job_login(conn: Connection, user: str) -> bool:
    """Whether the job login exists; raise DeployError if it is the connected owner or holds any
    power beyond agent_warehouse_job (superuser, CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS,
    another role such as the owner role): every task runs with it. Writes nothing."""
    from agent_warehouse.db import one_row

    with conn.cursor() as cur:
        cur.execute("SELECT session_user")
        if one_row(cur)[0] == user:
            raise DeployError(f"the job login {user!r} is the owner login: give the tasks a login of their own")
        cur.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, "
            "       EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles o ON o.oid = m.roleid "
            "               WHERE m.member = r.oid AND o.rolname <> %s) "
            "FROM pg_roles r WHERE rolname = %s", (JOB_ROLE, user))
        row = cur.fetchone()
    conn.rollback()
    if row is not None and any(row):
        names = ("SUPERUSER", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS",
                 f"membership of roles other than {JOB_ROLE}")
        powers = [n for n, v in zip(names, row, strict=True) if v]
        raise DeployError(f"the job login {user!r} has {', '.join(powers)}: every task would act with it; "
                          f"use a login that holds {JOB_ROLE} only")
    return row is not None


def ensure_job_login(conn: Connection, user: str, password: str | None) -> str:
    """Create or update the job login (LOGIN, its password, member of agent_warehouse_job
    only), after check_job_login. Returns "created" or "updated"."""
    from psycopg import sql

    exists = check_job_login(conn, user)
    statement = sql.SQL(("ALTER" if exists else "CREATE") + " ROLE {} WITH LOGIN").format(sql.Identifier(user))
    if password:
        # Utility statements take no bound parameters: psycopg quotes the literal client-side.
        statement = sql.SQL("{} PASSWORD {}").format(statement, sql.Literal(password))
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(statement)
        cur.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(JOB_ROLE), sql.Identifier(user)))
    return "updated" if exists else "created"


def migrate_warehouse(inputs: Inputs) -> list[str]:
    """Migrations as the owner where AIRFLOW_CONN_WAREHOUSE points, then the job login; last,
    a check through the job login itself that it connects and sees a current schema."""
    from agent_warehouse.db import connect, dsn_from_airflow_uri, migrations, one_row

    conn = connect(owner_dsn(inputs))
    try:
        check_job_login(conn, inputs.job_user)  # before anything is written
        applied = migrations.migrate(conn)
        verb = ensure_job_login(conn, inputs.job_user, inputs.job_password)
    finally:
        conn.close()
    job = connect(dsn_from_airflow_uri(inputs.warehouse_uri))
    try:
        migrations.check_current(job)
        with job.cursor() as cur:
            cur.execute("SELECT session_user, pg_has_role(session_user, %s, 'MEMBER')", (JOB_ROLE,))
            who, member = one_row(cur)
        job.rollback()
    finally:
        job.close()
    if who != inputs.job_user or not member:
        raise DeployError(f"connected as {who!r} through AIRFLOW_CONN_WAREHOUSE, expected {inputs.job_user!r} "
                          f"in {JOB_ROLE}")
    print(f"warehouse: {len(applied)} migration(s) applied; job login {inputs.job_user!r} {verb}")
    return applied


# ------------------------------------------------------------------ Airflow
def airflow_db_migrate() -> None:
    done = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True)
    if done.returncode != 0:
        raise DeployError(f"airflow db migrate failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    print("airflow: metadata database migrated")


def ensure_pool(slots: int) -> None:
    from airflow.models.pool import Pool

    from agent_warehouse import settings

    Pool.create_or_update_pool(settings.current().pool, slots, "Tasks writing to the warehouse",
                               include_deferred=False)
    print(f"airflow: pool {settings.current().pool} has {slots} slots")


def ensure_admin(username: str, password: str) -> str:
    """The FAB admin with the secret's password: created, or its password reset to the secret."""
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        sm = appbuilder.sm
        user = sm.find_user(username=username)
        if user is None:
            role = sm.find_role("Admin")
            if not sm.add_user(username, "Airflow", "Admin", f"{username}@localhost", role, password):
                raise DeployError(f"could not create the Airflow admin {username!r}")
            verb = "created"
        else:
            if not sm.reset_password(user.id, password):
                raise DeployError(f"could not set the password of the Airflow admin {username!r}")
            verb = "password set"
    print(f"airflow: admin {username!r} {verb}")
    return verb


def init(chown: list[str], env: Mapping[str, str] | None = None) -> None:
    inputs = read_inputs(env)  # secrets first: /run/secrets may be readable by root only
    if os.geteuid() == 0:
        changed = give_to(chown, inputs.uid)
        drop_privileges(inputs.uid)
        print(f"volumes: {', '.join(chown) or 'none'} owned by uid {inputs.uid} ({changed} entries changed); "
              f"running as uid {os.getuid()}")
    elif chown:
        print(f"volumes: not root (uid {os.getuid()}), ownership of {', '.join(chown)} left as it is")
    airflow_db_migrate()
    migrate_warehouse(inputs)
    ensure_pool(inputs.pool_slots)
    if inputs.admin_password:
        ensure_admin(inputs.admin_user, inputs.admin_password)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent_warehouse.deploy", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_init = sub.add_parser("init", help="prepare databases, logins, pool, admin and volumes (airflow-init)")
    p_init.add_argument("--chown", action="append", default=[], metavar="DIR",
                        help="a folder the workers write (given to AIRFLOW_UID when run as root); repeatable")
    args = parser.parse_args(argv)
    try:
        init(args.chown)
    except DeployError as exc:
        print(f"airflow-init: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
