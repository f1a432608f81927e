# The bridge on the official Airflow image: the same Airflow version as requirements.txt, the project
# (qimen, wmsbridge, the simulator, the qimen provider and the plugins) installed into the image, the
# DAGs baked in. Build: docker build -t juxing-wms-bridge:latest .   (docker-compose.yaml builds it too)
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

WORKDIR /opt/project
COPY --chown=airflow:0 requirements.txt pyproject.toml README.md ./
COPY --chown=airflow:0 include ./include
COPY --chown=airflow:0 plugins ./plugins
# The full lock pins the same Airflow as the base image; the image's own providers (celery, redis,
# postgres ...) stay installed beside it. `-e .` in the lock installs this project.
RUN pip install --no-cache-dir -r requirements.txt
COPY --chown=airflow:0 dags /opt/airflow/dags
WORKDIR /opt/airflow
