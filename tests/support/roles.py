"""Connections in one of the warehouse's roles, and whether the server refuses a statement."""

from __future__ import annotations

from typing import Any

import psycopg

from agent_warehouse.db import connect


def as_role(role: str) -> Any:
    """A connection that acts as ``role`` (``SET ROLE``; the test login is a superuser)."""
    conn = connect()
    with conn.cursor() as cur:
        cur.execute(f"SET ROLE {role}")  # a constant of the calling test, not input
    conn.commit()
    return conn


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
