"""Settings read from an environment mapping: SageMaker's variables and the project's own."""

import pytest

from container.settings import ConfigurationError, Settings, default_threads, default_workers
from inference.params import RequestParams

GIB = 1 << 30


def read(cpus=2, memory=24 * GIB, **environ):
    return Settings.from_environ(environ, cpus=cpus, memory_bytes=memory)


@pytest.mark.parametrize(
    "cpus, memory, precision, workers",
    [
        (2, 24 * GIB, "fp32", 2),
        (1, 24 * GIB, "fp32", 1),
        (16, 24 * GIB, "fp32", 16),
        # a worker peaks at 1.24 GiB in FP32, 1.80 GiB in INT8, under shape-diverse traffic
        (16, 3 * GIB, "fp32", 2),
        (16, 3 * GIB, "int8", 1),
        (16, 1 * GIB, "fp32", 1),
        # an ml.c5.xlarge: 4 vCPUs (2 cores), 8 GiB
        (4, 8 * GIB, "fp32", 4),
        (4, 8 * GIB, "int8", 3),
    ],
)
def test_default_workers(cpus, memory, precision, workers):
    assert default_workers(cpus, memory, precision) == workers


@pytest.mark.parametrize(
    "cpus, workers, tuning, threads",
    [
        (2, 2, "latency", 2),  # two threads a core: a lone request has both cores
        (2, 1, "latency", 2),  # never more threads than cores
        (8, 2, "latency", 8),
        (1, 1, "latency", 1),
        (2, 2, "throughput", 1),
        (8, 2, "throughput", 4),
    ],
)
def test_default_threads(cpus, workers, tuning, threads):
    assert default_threads(cpus, workers, tuning) == threads


def test_defaults():
    settings = read()
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert settings.max_payload_bytes == 6 * 1024 * 1024  # SageMaker's real-time limit
    assert settings.timeout_seconds == 60
    assert settings.base_dir == "/opt/ml" and settings.model_dir == "/opt/ml/model"
    assert (settings.workers, settings.threads_per_worker) == (2, 2)
    assert settings.archive_code == "ignore" and not settings.trusts_archive_code
    assert settings.requests.defaults == RequestParams()
    assert settings.requests.max_pixels == 40_000_000


def test_sagemaker_variables():
    settings = read(
        cpus=8,
        SAGEMAKER_BIND_TO_PORT="9999",
        SAGEMAKER_MODEL_SERVER_WORKERS="2",
        SAGEMAKER_MODEL_SERVER_TIMEOUT="90",
        SAGEMAKER_MAX_PAYLOAD_IN_MB="10",
        SAGEMAKER_BASE_DIR="/srv/ml",
    )
    assert settings.port == 9999
    assert (settings.workers, settings.threads_per_worker) == (2, 8)  # two threads a core
    assert settings.timeout_seconds == 90
    assert settings.max_payload_bytes == 10 * 1024 * 1024
    assert settings.model_dir == "/srv/ml/model"


def test_throughput_tuning_gives_one_single_threaded_worker_per_core():
    settings = read(cpus=4, SM_DETECT_TUNING="throughput")
    assert (settings.workers, settings.threads_per_worker) == (4, 1)


def test_an_explicit_thread_count_wins():
    assert read(cpus=8, OMP_NUM_THREADS="3").threads_per_worker == 3


def test_empty_values_count_as_unset():
    assert read(SAGEMAKER_BIND_TO_PORT="", SM_DETECT_TUNING="") == read()


def test_request_defaults():
    settings = read(
        SM_DETECT_THRESHOLD="0.2",
        SM_DETECT_MAX_DETECTIONS="5",
        SM_DETECT_CLASSES="cat;dog",
        SM_DETECT_MODE="square320",
        SM_DETECT_MAX_PIXELS="1000",
    )
    assert settings.requests.defaults == RequestParams(0.2, 5, ("cat", "dog"), "square320")
    assert settings.requests.max_pixels == 1000


@pytest.mark.parametrize(
    "variable, value, allowed",
    [
        ("SAGEMAKER_MODEL_SERVER_WORKERS", "abc", "a whole number at least 1"),
        ("SAGEMAKER_MODEL_SERVER_WORKERS", "0", "a whole number at least 1"),
        ("SAGEMAKER_BIND_TO_PORT", "70000", "a whole number from 0 to 65535"),
        ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "-5", "a whole number at least 1"),
        ("SAGEMAKER_MAX_PAYLOAD_IN_MB", "6.5", "a whole number at least 1"),
        ("OMP_NUM_THREADS", "many", "a whole number at least 1"),
        ("SM_DETECT_TUNING", "fast", "one of latency, throughput"),
        ("SM_DETECT_ARCHIVE_CODE", "yes", "one of ignore, trust"),
        ("SM_DETECT_MAX_PIXELS", "lots", "a whole number at least 1"),
        ("SM_DETECT_THRESHOLD", "2", "threshold must be between 0 and 1"),
        ("SM_DETECT_MODE", "fast", "mode must be one of aspect"),
        ("SM_DETECT_MAX_DETECTIONS", "0", "max_detections must be between"),
        ("SM_DETECT_LOG_FORMAT", "xml", "one of text, json"),
        ("SM_DETECT_LOG_LEVEL", "loud", "one of DEBUG, INFO, WARNING, ERROR"),
        ("SM_DETECT_METRICS", "maybe", "one of on, off"),
    ],
)
def test_a_bad_value_is_one_line_naming_it(variable, value, allowed):
    with pytest.raises(ConfigurationError) as error:
        read(**{variable: value})
    message = str(error.value)
    assert message.startswith(f"{variable}={value!r} is not valid: ")
    assert allowed in message and "\n" not in message
    assert error.value.variable == variable


def test_logs_and_metrics():
    # on a terminal (text), no metric documents among the lines; with JSON lines (the image's,
    # read by CloudWatch Logs), one per request
    assert (read().log_format, read().log_level, read().metrics) == ("text", "INFO", False)
    assert read(SM_DETECT_LOG_FORMAT="json").metrics is True
    assert read(SM_DETECT_METRICS="on").metrics is True
    settings = read(
        SM_DETECT_LOG_FORMAT="json",
        SM_DETECT_LOG_LEVEL="debug",
        SM_DETECT_METRICS="off",
        SM_DETECT_METRICS_NAMESPACE="team/detector",
        SM_DETECT_ENDPOINT_NAME="yolo",
        SM_DETECT_VARIANT_NAME="AllTraffic",
    )
    assert (settings.log_format, settings.log_level, settings.metrics) == ("json", "DEBUG", False)
    assert settings.metrics_namespace == "team/detector"
    assert (settings.endpoint_name, settings.variant_name) == ("yolo", "AllTraffic")


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        read().port = 1
