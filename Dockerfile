# syntax=docker/dockerfile:1
# sm-detect CPU image: `docker run IMAGE serve` answers SageMaker's /ping and /invocations on 8080.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="sm-detect" \
      org.opencontainers.image.description="GluonCV YOLOv3 object detector for SageMaker endpoints" \
      com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true

# Python 3.11 and a headless Java for multi-model-server, from Debian; tini as PID 1 so SIGTERM
# reaches the server and children are reaped; libgomp/libquadmath for MXNet's OpenBLAS build.
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3 python3-venv openjdk-17-jre-headless tini libgomp1 libquadmath0 ca-certificates \
 && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SM_DETECT_LOG_FORMAT=json

# The pinned set local set-up uses too; its own layer, so a code change does not reinstall it.
# An optional build secret `pip-ca` is a CA bundle for pip behind a TLS-intercepting proxy.
COPY requirements.txt /tmp/requirements.txt
RUN --mount=type=secret,id=pip-ca \
    python3 -m venv "$VIRTUAL_ENV" \
 && if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
 && pip install --no-cache-dir --disable-pip-version-check -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

WORKDIR /opt/sm-detect
COPY pyproject.toml README.md ./
COPY inference ./inference
COPY container ./container
COPY scripts ./scripts
RUN pip install --no-cache-dir --disable-pip-version-check --no-deps --no-build-isolation . \
 && useradd --uid 1000 --create-home --home-dir /home/model-server model-server \
 && mkdir -p /opt/ml/model \
 && chown model-server /opt/ml /opt/ml/model

# Optionally bake a model in for local runs: --build-arg MODEL_ARCHIVE=build/model.tar.gz.
# SageMaker mounts ModelDataUrl's contents at /opt/ml/model, over whatever is baked in.
ARG MODEL_ARCHIVE=
COPY .dockerignore ${MODEL_ARCHIVE} /tmp/model-archive/
RUN set -e; for archive in /tmp/model-archive/*.tar.gz; do \
      [ -f "$archive" ] || continue; \
      python3 -c "import sys; from scripts.lib.archive import safe_extract; safe_extract(*sys.argv[1:])" \
        "$archive" /opt/ml/model; \
    done; \
    rm -rf /tmp/model-archive

USER 1000:1000
EXPOSE 8080
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/sm-detect/container/docker-entrypoint.sh"]
CMD ["serve"]
