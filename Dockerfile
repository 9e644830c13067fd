# syntax=docker/dockerfile:1
# sm-detect CPU image: `docker run IMAGE serve` answers SageMaker's /ping and /invocations on 8080.
# Two stages: the first builds the serving virtual environment and a Java runtime cut down to
# what multi-model-server uses; the second holds only those, Debian's Python and tini.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3 python3-venv openjdk-17-jdk-headless binutils ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# The serving set only (requirements/serving.txt lists every package the server imports, so
# nothing else is pulled in), without the packages' own tests and C headers. An optional build
# secret `pip-ca` is a CA bundle for pip behind a TLS-intercepting proxy.
COPY requirements/serving.txt requirements/build.txt /tmp/
RUN --mount=type=secret,id=pip-ca \
    python3 -m venv /opt/venv \
 && if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps \
      -r /tmp/serving.txt -r /tmp/build.txt \
 && find /opt/venv/lib/python3.11/site-packages -type d -name tests -prune -exec rm -rf {} + \
 && rm -rf /opt/venv/lib/python3.11/site-packages/mxnet/include

# A Java runtime with the modules multi-model-server's jar uses, as jdeps finds them (the jar
# bundles a module-info.class that would hide the rest from jdeps, so it is read unpacked;
# jlink strips debug symbols with binutils' objcopy).
WORKDIR /tmp/mms
RUN jar xf /opt/venv/lib/python3.11/site-packages/mms/frontend/model-server.jar \
 && find /tmp/mms -name module-info.class -delete \
 && rm -rf /tmp/mms/META-INF/versions \
 && jlink --add-modules "$(jdeps --ignore-missing-deps --print-module-deps -R /tmp/mms)" \
      --strip-debug --no-man-pages --no-header-files --compress=2 --output /opt/java \
 && rm -rf /tmp/mms

COPY pyproject.toml README.md /tmp/project/
COPY inference /tmp/project/inference
COPY container /tmp/project/container
COPY scripts /tmp/project/scripts
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps \
      --no-build-isolation /tmp/project

# Optionally bake a model in for local runs: --build-arg MODEL_ARCHIVE=build/model.tar.gz,
# unpacked here so that only its contents reach the image. SageMaker mounts ModelDataUrl's
# contents at /opt/ml/model, over whatever is baked in.
ARG MODEL_ARCHIVE=.dockerignore
COPY ${MODEL_ARCHIVE} /tmp/model-archive/
RUN mkdir -p /opt/ml/model \
 && for archive in /tmp/model-archive/*.tar.gz; do \
      [ -f "$archive" ] || continue; \
      /opt/venv/bin/python -c "import sys; from scripts.lib.archives.archive import safe_extract; safe_extract(*sys.argv[1:])" \
        "$archive" /opt/ml/model; \
    done

FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="sm-detect" \
      org.opencontainers.image.description="GluonCV YOLOv3 object detector for SageMaker endpoints" \
      com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true \
      com.amazonaws.sagemaker.capabilities.multi-models=true

# Python 3.11 from Debian (the virtual environment's interpreter); tini as PID 1 so SIGTERM
# reaches the server and children are reaped; libgomp/libquadmath for MXNet's OpenBLAS build.
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3 tini libgomp1 libquadmath0 ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /usr/share/doc /usr/share/man

ENV VIRTUAL_ENV=/opt/venv \
    JAVA_HOME=/opt/java \
    PATH=/opt/venv/bin:/opt/java/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SM_DETECT_LOG_FORMAT=json

COPY --from=build /opt/java /opt/java
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/ml /opt/ml
COPY container/docker-entrypoint.sh /opt/sm-detect/container/docker-entrypoint.sh
RUN useradd --uid 1000 --create-home --home-dir /home/model-server model-server \
 && chown model-server /opt/ml /opt/ml/model

USER 1000:1000
EXPOSE 8080
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/sm-detect/container/docker-entrypoint.sh"]
CMD ["serve"]
