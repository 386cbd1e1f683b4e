"""A DAG file that connects to a database while it is parsed: test_dag_policy must catch it.
(Not in dags/; only test_dag_policy parses it.)"""

import psycopg
from airflow.sdk import dag

psycopg.connect("dbname=warehouse")


@dag(dag_id="parse_time_access", schedule=None)
def parse_time_access() -> None:
    pass


parse_time_access()
