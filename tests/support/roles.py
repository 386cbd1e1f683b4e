"""Connections in one of the warehouse's roles, and whether the server refuses a statement."""

from __future__ import annotations

from typing import Any

import psycopg

from agent_warehouse.db import connect, dsn_from_airflow_uri

JOB_LOGIN = "aw_test_job_login"


def as_role(role: str) -> Any:
    """A connection that acts as ``role`` (``SET ROLE``; the test login is a superuser)."""
    conn = connect()
    with conn.cursor() as cur:
        cur.execute(f"SET ROLE {role}")  # a constant of the calling test, not input
    conn.commit()
    return conn


def job_login_uri(dbname: str) -> str:
    """The Airflow connection URI of a login that holds the job role and nothing else (created
    if missing; roles are cluster-wide). Unlike ``SET ROLE`` on a superuser's session, it cannot
    ``RESET ROLE``, and ``session_user`` is the job's own, as in a deployment."""
    from tools import devdb

    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (JOB_LOGIN,))
        if cur.fetchone() is None:
            cur.execute(f"CREATE ROLE {JOB_LOGIN} LOGIN IN ROLE agent_warehouse_job")  # a constant
    return devdb.connection_uri(dbname).replace("postgres@", f"{JOB_LOGIN}@")


def job_login(dbname: str) -> Any:
    """A connection as the login of :func:`job_login_uri`."""
    return connect(dsn_from_airflow_uri(job_login_uri(dbname)))


def refused(conn: Any, statement: str, params: Any = None) -> bool:
    """True when the server refuses ``statement`` for lack of privilege or by a row policy
    (SQLSTATE 42501); any other error is raised."""
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
    except psycopg.errors.InsufficientPrivilege:
        conn.rollback()
        return True
    conn.commit()
    return False
