# The bridge on the official Airflow image: the same Airflow version as requirements.txt, the runtime
# package (qimen, wmsbridge, the qimen provider and its plugins: what `pip wheel --no-deps .` builds,
# no simulator, demo, chaos, synthetic data or local Airflow) installed into the image, the DAGs baked
# in. Build: docker build -t juxing-wms-bridge:latest .   (docker-compose.yaml builds it too)
# The tools stage adds tools/ (the WMS simulator ...) for the compose profile `simulator` only:
# docker build --target tools -t juxing-wms-bridge-tools:latest .
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE} AS runtime

WORKDIR /opt/project
COPY --chown=airflow:0 requirements.txt pyproject.toml README.md ./
COPY --chown=airflow:0 include ./include
COPY --chown=airflow:0 plugins ./plugins
# The full lock pins the same Airflow as the base image; the image's own providers (celery, redis,
# postgres ...) stay installed beside it. The project itself is installed as a built package, not
# editable: the lock's `-e .` line is left out and `pip install --no-deps .` builds and installs it.
RUN grep -v '^-e ' requirements.txt > /tmp/requirements.lock \
    && pip install --no-cache-dir -r /tmp/requirements.lock \
    && pip install --no-cache-dir --no-deps . \
    && rm /tmp/requirements.lock
COPY --chown=airflow:0 dags /opt/airflow/dags
WORKDIR /opt/airflow

# Not for production: the runtime image plus the tools (the WMS simulator of the `simulator` profile).
FROM runtime AS tools
COPY --chown=airflow:0 tools /opt/project/tools
RUN pip install --no-cache-dir --no-deps /opt/project/tools

# The default target: the runtime image.
FROM runtime
