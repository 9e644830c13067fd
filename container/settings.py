"""The server's settings: its port, payload limit, model server workers and threads, timeouts,
logs and metrics, read once per process from the environment, checked, and frozen.

SageMaker configures a container through environment variables (``SAGEMAKER_*``) and this
project adds its own (``SM_DETECT_*``), named below. They are read in one place, from a mapping
(the process environment, or a dict in tests), into one read-only object, the request path's
own settings (``inference.settings``) with them. A value that cannot work ends start-up with one
line that names the variable, the value and what is allowed.
"""

import dataclasses
import os
from collections.abc import Mapping

from inference.settings import ConfigurationError, Reader, RequestSettings

TUNING = "SM_DETECT_TUNING"
WORKERS = "SAGEMAKER_MODEL_SERVER_WORKERS"
LOG_FORMAT = "SM_DETECT_LOG_FORMAT"
HOST = "SM_DETECT_HOST"
PORT = "SAGEMAKER_BIND_TO_PORT"
MAX_PAYLOAD_MB = "SAGEMAKER_MAX_PAYLOAD_IN_MB"
BASE_DIR = "SAGEMAKER_BASE_DIR"
THREADS = "OMP_NUM_THREADS"
TIMEOUT = "SAGEMAKER_MODEL_SERVER_TIMEOUT"
LOAD_TIMEOUT = "SM_DETECT_LOAD_TIMEOUT"
RESTART_AFTER = "SM_DETECT_RESTART_AFTER"
ARCHIVE_CODE_VARIABLE = "SM_DETECT_ARCHIVE_CODE"
LOG_LEVEL = "SM_DETECT_LOG_LEVEL"
METRICS = "SM_DETECT_METRICS"
METRICS_NAMESPACE = "SM_DETECT_METRICS_NAMESPACE"
PROMETHEUS = "SM_DETECT_PROMETHEUS"
ENDPOINT_NAME = "SM_DETECT_ENDPOINT_NAME"
VARIANT_NAME = "SM_DETECT_VARIANT_NAME"
MULTI_MODEL = "SAGEMAKER_MULTI_MODEL"
MODELS_DIR = "SM_DETECT_MODELS_DIR"
MODELS_MEMORY_MB = "SM_DETECT_MODELS_MEMORY_MB"

DEFAULT_PORT = 8080
DEFAULT_HOST = "0.0.0.0"
DEFAULT_BASE_DIR = "/opt/ml"
DEFAULT_MODELS_DIR = "/opt/ml/models"  # where SageMaker puts a multi-model endpoint's models
RESERVED_MEMORY_BYTES = 1 << 30  # the front door, MMS's frontend, the system
DEFAULT_TIMEOUT_SECONDS = 60
# a worker loads the model and warms every canvas: 9 s on a quiet 2-core machine, 79 s seen with
# other work on the same cores; a load is never a request, and never cut short by a request's limit
DEFAULT_LOAD_TIMEOUT_SECONDS = 600
DEFAULT_MAX_PAYLOAD_MB = 6  # SageMaker's own limit for real-time endpoints
DEFAULT_RESTART_AFTER_SECONDS = 60
# a worker's peak under shape-diverse traffic, every bucket warmed (docs/PERFORMANCE.md: 1.24
# GiB FP32, 1.80 GiB INT8, 2.10 GiB BF16 measured), with room to spare
WORKER_MEMORY_BYTES = {"fp32": 3 << 29, "int8": 9 << 28, "bf16": 5 << 29}  # 1.5, 2.25, 2.5 GiB
LATENCY, THROUGHPUT = "latency", "throughput"
TUNINGS = (LATENCY, THROUGHPUT)
IGNORE, TRUST = "ignore", "trust"
ARCHIVE_CODES = (IGNORE, TRUST)
TEXT, JSON = "text", "json"
LOG_FORMATS = (TEXT, JSON)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
ON, OFF = "on", "off"
DEFAULT_METRICS_NAMESPACE = "sm-detect"


def default_workers(cpus: int, memory_bytes: int, precision: str = "fp32") -> int:
    """Workers: one per core, as many as memory allows for a model of ``precision``, at least one.

    Both tunings keep a worker per core, so that under load one request's decoding and waiting
    overlap another's forward pass; they differ in threads (``default_threads``). MMS's own
    default (a worker per core, each with a pool of every core's threads) oversubscribes the
    cores more.
    """
    return max(1, min(cpus, memory_bytes // WORKER_MEMORY_BYTES[precision]))


def default_threads(cpus: int, workers: int, tuning: str = LATENCY) -> int:
    """OpenMP threads per worker for ``tuning``.

    ``latency``: twice the worker's share of the cores (two threads a core), so a lone request
    runs on two cores and answers about as soon as one two-thread worker alone, while two busy
    workers share the cores (docs/PERFORMANCE.md measured this layout against others served).
    ``throughput``: the worker's share, one thread a core, the least synchronisation.
    """
    share = max(1, cpus // workers)
    return share if tuning == THROUGHPUT else min(cpus, 2 * share)


def physical_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the server is configured with, the request path's settings included (checked
    here, at start, so that a bad one stops the server rather than every worker)."""

    # the front door
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_MB << 20
    # the model server
    base_dir: str = DEFAULT_BASE_DIR
    workers: int = 1
    threads_per_worker: int = 1
    tuning: str = LATENCY
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    load_timeout_seconds: int = DEFAULT_LOAD_TIMEOUT_SECONDS
    restart_after_seconds: int = DEFAULT_RESTART_AFTER_SECONDS
    archive_code: str = IGNORE
    # what the server writes: its log lines, and CloudWatch metrics in them
    log_format: str = TEXT
    log_level: str = "INFO"
    metrics: bool = False
    metrics_namespace: str = DEFAULT_METRICS_NAMESPACE
    prometheus: bool = True  # GET /metrics, for scrapers outside SageMaker
    endpoint_name: str = ""  # the metrics' dimensions, set by `sm-detect deploy`
    variant_name: str = ""
    # a multi-model endpoint: models loaded on demand from under ``models_dir``, as many as
    # ``models_memory_bytes`` holds
    multi_model: bool = False
    models_dir: str = DEFAULT_MODELS_DIR
    models_memory_bytes: int = 0
    # each request's defaults, and the decoder's pixel limit, as the workers read them
    requests: RequestSettings = dataclasses.field(default_factory=RequestSettings)

    @property
    def model_dir(self) -> str:
        return os.path.join(self.base_dir, "model")

    @property
    def trusts_archive_code(self) -> bool:
        return self.archive_code == TRUST

    @classmethod
    def from_environ(
        cls,
        environ: Mapping[str, str],
        cpus: int | None = None,
        memory_bytes: int | None = None,
        precision: str = "fp32",
    ) -> "Settings":
        """Read ``environ`` (a mapping); raises ``ConfigurationError`` on the first bad value.

        Unless set, the workers are as many as the tuning wants and memory holds for a model of
        ``precision``."""
        read = Reader(environ)
        cpus = cpus or os.cpu_count() or 1
        tuning = read.choice(TUNING, TUNINGS, LATENCY)
        workers = read.unless_unset(WORKERS, minimum=1) or (
            default_workers(cpus, memory_bytes or physical_memory_bytes(), precision)
        )
        log_format = read.choice(LOG_FORMAT, LOG_FORMATS, TEXT)
        return cls(
            host=read.text(HOST, DEFAULT_HOST),
            port=read.whole(PORT, DEFAULT_PORT, minimum=0, maximum=65535),
            max_payload_bytes=read.whole(MAX_PAYLOAD_MB, DEFAULT_MAX_PAYLOAD_MB, 1) << 20,
            base_dir=read.text(BASE_DIR, DEFAULT_BASE_DIR),
            workers=workers,
            threads_per_worker=read.whole(THREADS, default_threads(cpus, workers, tuning), 1),
            tuning=tuning,
            timeout_seconds=read.whole(TIMEOUT, DEFAULT_TIMEOUT_SECONDS, minimum=1),
            load_timeout_seconds=read.whole(LOAD_TIMEOUT, DEFAULT_LOAD_TIMEOUT_SECONDS, minimum=1),
            restart_after_seconds=read.whole(
                RESTART_AFTER, DEFAULT_RESTART_AFTER_SECONDS, minimum=1
            ),
            archive_code=read.choice(ARCHIVE_CODE_VARIABLE, ARCHIVE_CODES, IGNORE),
            log_format=log_format,
            log_level=read.choice(LOG_LEVEL, LOG_LEVELS, "INFO", str.upper),
            # CloudWatch's documents where CloudWatch Logs reads them (JSON lines, the image's
            # format); not among a terminal's text lines unless asked for
            metrics=read.choice(METRICS, (ON, OFF), ON if log_format == JSON else OFF) == ON,
            metrics_namespace=read.text(METRICS_NAMESPACE, DEFAULT_METRICS_NAMESPACE),
            prometheus=read.choice(PROMETHEUS, (ON, OFF), ON) == ON,
            endpoint_name=read.text(ENDPOINT_NAME, ""),
            variant_name=read.text(VARIANT_NAME, ""),
            multi_model=read.choice(MULTI_MODEL, ("true", "false"), "false", str.lower) == "true",
            models_dir=read.text(MODELS_DIR, DEFAULT_MODELS_DIR),
            models_memory_bytes=read.whole(
                MODELS_MEMORY_MB,
                max(1, ((memory_bytes or physical_memory_bytes()) - RESERVED_MEMORY_BYTES) >> 20),
                minimum=1,
            )
            << 20,
            requests=RequestSettings.from_environ(environ),
        )


__all__ = ["ConfigurationError", "Settings", "default_threads", "default_workers"]
