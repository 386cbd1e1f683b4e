"""Versioned migrations: each applied once, in order, safely from concurrent callers."""

from __future__ import annotations

import threading

import pytest

from agent_warehouse.db import connect, migrations


def test_migrate_is_idempotent_and_recorded(migrated):
    conn = connect()
    assert migrations.migrate(conn) == []
    assert migrations.pending(conn) == []
    migrations.check_current(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM ops.schema_migrations")
        assert cur.fetchone()[0] == len(migrations.available())
    conn.close()


def test_concurrent_callers_apply_each_file_once(tmp_path):
    from tools import devdb

    name = f"test_mig_{id(tmp_path)}"
    devdb.ensure_database(name)
    dsn = f"host={devdb.socket_dir()} user=postgres dbname={name}"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            c = connect(dsn)
            migrations.migrate(c)
            c.close()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    c = connect(dsn)
    with c.cursor() as cur:
        cur.execute("SELECT version, count(*) FROM ops.schema_migrations GROUP BY version HAVING count(*) > 1")
        assert cur.fetchall() == []
    c.close()
    devdb.drop_database(name)


def test_pending_schema_is_reported_with_the_fix(tmp_path):
    from tools import devdb

    name = f"test_empty_{id(tmp_path)}"
    devdb.ensure_database(name)
    c = connect(f"host={devdb.socket_dir()} user=postgres dbname={name}")
    with pytest.raises(migrations.SchemaNotCurrent, match="make migrate"):
        migrations.check_current(c)
    c.close()
    devdb.drop_database(name)


def test_edited_migration_is_refused(tmp_path):
    from tools import devdb

    (tmp_path / "0001_a.sql").write_text("CREATE TABLE ops.t_a (x int);")
    name = f"test_edit_{id(tmp_path)}"
    devdb.ensure_database(name)
    c = connect(f"host={devdb.socket_dir()} user=postgres dbname={name}")
    assert migrations.migrate(c, tmp_path) == ["0001_a.sql"]
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE ops.t_a (x bigint);")
    with pytest.raises(RuntimeError, match="changed after it was applied"):
        migrations.migrate(c, tmp_path)
    c.close()
    devdb.drop_database(name)
