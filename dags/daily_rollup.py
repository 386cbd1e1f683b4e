"""Airflow DAG file: `daily_rollup`, built by the installed agent-warehouse package."""

from agent_warehouse.orchestration.dags import daily_rollup

dag = daily_rollup.build()
