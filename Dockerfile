# The image every service of docker-compose.yaml runs: Airflow's own image, extended the way
# Airflow documents it ("Extending the image": as the airflow user, pip install with
# apache-airflow pinned to the image's version so nothing moves Airflow), with this
# repository's pinned requirements (FAB auth manager, Celery, psycopg 3, ...) and the package.
# No source is mounted and nothing is put on PYTHONPATH.
#   docker build -t agent-warehouse-airflow .      (docker compose up --build does it too)
FROM apache/airflow:3.3.2-python3.11

USER airflow

COPY --chown=airflow:0 requirements.txt /opt/airflow/requirements.txt
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /opt/airflow/requirements.txt

# The package, installed from this checkout: the wheel built from it carries the SQL
# (include/sql, as agent_warehouse/sql) and the report templates as package data, and
# registers the plugin through the airflow.plugins entry point.
COPY --chown=airflow:0 pyproject.toml /opt/airflow/project/pyproject.toml
COPY --chown=airflow:0 agent_warehouse /opt/airflow/project/agent_warehouse
COPY --chown=airflow:0 include /opt/airflow/project/include
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" /opt/airflow/project

# The DAG files (one line each, building the DAG from the package), where Airflow's image
# looks for them. No plugins folder: the entry point registers the plugin.
COPY --chown=airflow:0 dags /opt/airflow/dags
