"""Airflow DAG file: `hourly_rollup`, built by the installed agent-warehouse package."""

from agent_warehouse.orchestration.dags import hourly_rollup

dag = hourly_rollup.build()
