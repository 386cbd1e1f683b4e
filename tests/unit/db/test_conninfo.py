"""The libpq conninfo built from an Airflow connection URI (no database)."""

from urllib.parse import quote

from psycopg.conninfo import conninfo_to_dict

from agent_warehouse.db import dsn_from_airflow_uri


def test_a_password_with_a_quote_and_a_backslash_stays_one_password():
    password = "it's a \\ secret' host='evil"
    dsn = dsn_from_airflow_uri(f"postgresql://alice:{quote(password, safe='')}@db.example:5433/wh")
    assert conninfo_to_dict(dsn) == {"host": "db.example", "port": "5433", "user": "alice",
                                     "password": password, "dbname": "wh"}


def test_a_socket_folder_keeps_its_case_and_libpq_options_are_kept():
    dsn = dsn_from_airflow_uri("postgresql://postgres@%2Ftmp%2FPgData/warehouse?sslmode=disable&__extra__=x")
    assert conninfo_to_dict(dsn) == {"host": "/tmp/PgData", "user": "postgres", "dbname": "warehouse",
                                     "sslmode": "disable"}


def test_an_ipv6_host():
    assert conninfo_to_dict(dsn_from_airflow_uri("postgresql://u@[::1]:5432/d"))["host"] == "::1"
