"""Settings: the serving environment read once, checked, and frozen.

SageMaker configures a container through environment variables (``SAGEMAKER_*``) and this
project adds its own (``SM_DETECT_*``). They are read in one place, from a mapping (the process
environment, or a dict in tests), into one read-only object. A value that cannot work is a
deployment mistake, not a request's: it ends start-up with one line that names the variable, the
value and what is allowed.
"""

import dataclasses
import os
from collections.abc import Mapping

from inference import decode, params, preprocess
from inference.errors import RequestError

DEFAULT_PORT = 8080
DEFAULT_HOST = "0.0.0.0"
DEFAULT_BASE_DIR = "/opt/ml"
DEFAULT_TIMEOUT_SECONDS = 60
DEFAULT_MAX_PAYLOAD_MB = 6  # SageMaker's own limit for real-time endpoints
DEFAULT_RESTART_AFTER_SECONDS = 60
# a worker's peak under shape-diverse traffic, every bucket warmed (docs/PERFORMANCE.md: 1.24
# GiB FP32, 1.80 GiB INT8 measured), with room to spare
WORKER_MEMORY_BYTES = {"fp32": 3 << 29, "int8": 9 << 28}  # 1.5 GiB, 2.25 GiB
LATENCY, THROUGHPUT = "latency", "throughput"
TUNINGS = (LATENCY, THROUGHPUT)
IGNORE, TRUST = "ignore", "trust"
ARCHIVE_CODE = (IGNORE, TRUST)
TEXT, JSON = "text", "json"
LOG_FORMATS = (TEXT, JSON)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
ON, OFF = "on", "off"
DEFAULT_METRICS_NAMESPACE = "sm-detect"


class ConfigurationError(ValueError):
    """A setting that cannot work: ``str()`` is the one line to show."""

    def __init__(self, variable, value, allowed):
        super().__init__(f"{variable}={value!r} is not valid: {allowed}")
        self.variable = variable


def default_workers(
    cpus: int, memory_bytes: int, tuning: str = LATENCY, precision: str = "fp32"
) -> int:
    """Workers for ``tuning``, as many as memory allows, at least one.

    ``latency``: one worker per two cores, each forward pass on two OpenMP threads, so a lone
    request is answered soonest. ``throughput``: one single-threaded worker per core, which
    keeps every core busy with the least synchronisation and answers the most requests per
    second under load (docs/PERFORMANCE.md has both curves). MMS's own default, one worker per
    core each with a pool of every core's threads, oversubscribes the cores.
    """
    wanted = cpus if tuning == THROUGHPUT else cpus // 2
    return max(1, min(wanted, memory_bytes // WORKER_MEMORY_BYTES[precision]))


def physical_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the server and the model handler are configured with."""

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
    restart_after_seconds: int = DEFAULT_RESTART_AFTER_SECONDS
    archive_code: str = IGNORE
    # what the server writes: its log lines, and CloudWatch metrics in them
    log_format: str = TEXT
    log_level: str = "INFO"
    metrics: bool = False
    metrics_namespace: str = DEFAULT_METRICS_NAMESPACE
    endpoint_name: str = ""  # the metrics' dimensions, set by `sm-detect deploy`
    variant_name: str = ""
    # each request's defaults, and the decoder's pixel limit
    request_defaults: params.RequestParams = dataclasses.field(default_factory=params.RequestParams)
    max_pixels: int = decode.DEFAULT_MAX_PIXELS

    @property
    def model_dir(self):
        return os.path.join(self.base_dir, "model")

    @property
    def trusts_archive_code(self):
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
        tuning = read.choice("SM_DETECT_TUNING", TUNINGS, LATENCY)
        workers = read.whole("SAGEMAKER_MODEL_SERVER_WORKERS", None, minimum=1) or (
            default_workers(cpus, memory_bytes or physical_memory_bytes(), tuning, precision)
        )
        log_format = read.choice("SM_DETECT_LOG_FORMAT", LOG_FORMATS, TEXT)
        return cls(
            host=read.text("SM_DETECT_HOST", DEFAULT_HOST),
            port=read.whole("SAGEMAKER_BIND_TO_PORT", DEFAULT_PORT, minimum=0, maximum=65535),
            max_payload_bytes=read.whole("SAGEMAKER_MAX_PAYLOAD_IN_MB", DEFAULT_MAX_PAYLOAD_MB, 1)
            << 20,
            base_dir=read.text("SAGEMAKER_BASE_DIR", DEFAULT_BASE_DIR),
            workers=workers,
            threads_per_worker=read.whole("OMP_NUM_THREADS", max(1, cpus // workers), 1),
            tuning=tuning,
            timeout_seconds=read.whole(
                "SAGEMAKER_MODEL_SERVER_TIMEOUT", DEFAULT_TIMEOUT_SECONDS, minimum=1
            ),
            restart_after_seconds=read.whole(
                "SM_DETECT_RESTART_AFTER", DEFAULT_RESTART_AFTER_SECONDS, minimum=1
            ),
            archive_code=read.choice("SM_DETECT_ARCHIVE_CODE", ARCHIVE_CODE, IGNORE),
            log_format=log_format,
            log_level=read.choice("SM_DETECT_LOG_LEVEL", LOG_LEVELS, "INFO", str.upper),
            # CloudWatch's documents where CloudWatch Logs reads them (JSON lines, the image's
            # format); not among a terminal's text lines unless asked for
            metrics=read.choice("SM_DETECT_METRICS", (ON, OFF), ON if log_format == JSON else OFF)
            == ON,
            metrics_namespace=read.text("SM_DETECT_METRICS_NAMESPACE", DEFAULT_METRICS_NAMESPACE),
            endpoint_name=read.text("SM_DETECT_ENDPOINT_NAME", ""),
            variant_name=read.text("SM_DETECT_VARIANT_NAME", ""),
            request_defaults=read.request_defaults(),
            max_pixels=read.whole("SM_DETECT_MAX_PIXELS", decode.DEFAULT_MAX_PIXELS, minimum=1),
        )


def check_against_model(settings: Settings, classes: tuple, post_nms: int) -> None:
    """Endpoint defaults a model (its ``classes``, the ``post_nms`` detections its NMS keeps)
    cannot honour are a deployment mistake: ``ConfigurationError``."""
    cap = settings.request_defaults.max_detections
    if cap > post_nms:
        raise ConfigurationError(
            "SM_DETECT_MAX_DETECTIONS",
            str(cap),
            f"at most {post_nms}, the detections this model's NMS keeps",
        )
    unknown = [name for name in settings.request_defaults.classes if name not in classes]
    if unknown:
        raise ConfigurationError(
            "SM_DETECT_CLASSES",
            ";".join(settings.request_defaults.classes),
            f"this model has no class {', '.join(unknown)}; it knows "
            + ", ".join(classes[:10])
            + (", ..." if len(classes) > 10 else ""),
        )


class Reader:
    """Typed reads of an environment mapping; an empty value counts as unset."""

    def __init__(self, environ):
        self.environ = environ

    def text(self, name, default):
        return self.environ.get(name) or default

    def whole(self, name, default, minimum, maximum=None):
        value = self.environ.get(name)
        if not value:
            return default
        bounds = f"at least {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        if not value.strip().isdigit():
            raise ConfigurationError(name, value, f"a whole number {bounds}")
        number = int(value)
        if number < minimum or (maximum is not None and number > maximum):
            raise ConfigurationError(name, value, f"a whole number {bounds}")
        return number

    def choice(self, name, allowed, default, normalize=str):
        given = self.environ.get(name) or default
        if normalize(given) not in allowed:
            raise ConfigurationError(name, given, "one of " + ", ".join(allowed))
        return normalize(given)

    def request_defaults(self):
        """``SM_DETECT_*`` defaults for the Custom-Attributes parameters, checked as a request's."""
        base = params.RequestParams()
        values = {}
        for field, name, parse in (
            ("threshold", "SM_DETECT_THRESHOLD", params.parse_threshold),
            ("max_detections", "SM_DETECT_MAX_DETECTIONS", params.parse_max_detections),
            ("classes", "SM_DETECT_CLASSES", params.parse_classes),
            ("mode", "SM_DETECT_MODE", preprocess.check_mode),
        ):
            value = self.environ.get(name)
            if not value:
                continue
            try:
                values[field] = parse(value)
            except RequestError as error:
                raise ConfigurationError(name, value, error.message) from None
        return dataclasses.replace(base, **values)
