"""Airflow DAG file: `weekly_rollup`, built by the installed agent-warehouse package."""

from agent_warehouse.orchestration.dags import weekly_rollup

dag = weekly_rollup.build()
