"""Airflow DAG file: `daily_signal_aggregation`, built by the installed agent-warehouse package."""

from agent_warehouse.orchestration.dags import daily_signal_aggregation

dag = daily_signal_aggregation.build()
