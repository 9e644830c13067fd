"""Metrics: CloudWatch Embedded Metric Format (EMF) documents on standard output, per request.

CloudWatch Logs turns an EMF line into metrics as it arrives, so an endpoint gets its latency
per stage, detections per image, image sizes and errors by code without an API call or an
agent. The documents are made by awslabs' ``aws-embedded-metrics``: a ``MetricsLogger`` per
request, flushed from the front door's event loop. Its "local" environment writes to standard
output, which is what SageMaker ships to CloudWatch Logs; the sink here also flushes, so a
document is never held in a pipe's buffer. Dimensions: the endpoint and variant (``deploy``
sets them in the container's environment), and the error code on a failed request.
"""

import sys
from typing import Any

from aws_embedded_metrics.environment.local_environment import LocalEnvironment
from aws_embedded_metrics.exceptions import InvalidNamespaceError
from aws_embedded_metrics.logger.metrics_context import MetricsContext
from aws_embedded_metrics.logger.metrics_logger import MetricsLogger
from aws_embedded_metrics.sinks.stdout_sink import StdoutSink
from aws_embedded_metrics.validator import validate_namespace

from container.record import Record
from inference.settings import ConfigurationError

UNKNOWN = "local"  # the dimension's value outside an endpoint


class FlushedStdout(StdoutSink):
    def accept(self, context: Any) -> None:
        super().accept(context)
        sys.stdout.flush()


class ServerEnvironment(LocalEnvironment):
    def __init__(self) -> None:
        super().__init__()
        self.sink = FlushedStdout()


class Metrics:
    """One EMF document per request, or nothing when ``enabled`` is false."""

    def __init__(
        self, namespace: str, endpoint_name: str = "", variant_name: str = "", enabled: bool = True
    ) -> None:
        try:
            validate_namespace(namespace)
        except InvalidNamespaceError as error:
            raise ConfigurationError("SM_DETECT_METRICS_NAMESPACE", namespace, str(error)) from None
        self.namespace = namespace
        self.dimensions = {
            "EndpointName": endpoint_name or UNKNOWN,
            "VariantName": variant_name or UNKNOWN,
        }
        self.enabled = enabled
        self.environment = ServerEnvironment()

    async def environment_of(self) -> LocalEnvironment:
        return self.environment

    async def record(self, request: Record) -> None:
        """Publish what ``request`` (a ``container.record.Record``) measured."""
        if not self.enabled:
            return
        metrics = MetricsLogger(self.environment_of, MetricsContext.empty())
        metrics.set_namespace(self.namespace)
        # only ours: not the library's defaults (service name and type, log group)
        metrics.set_dimensions(self.dimensions, use_default=False)
        if request.error_code:
            metrics.put_dimensions({**self.dimensions, "ErrorCode": request.error_code})
        if request.target_model:
            metrics.put_dimensions({**self.dimensions, "TargetModel": request.target_model})
        metrics.put_metric("Latency", request.latency_ms, "Milliseconds")
        metrics.put_metric("Errors", 1 if request.error_code else 0, "Count")
        for stage, milliseconds in request.stages_ms.items():
            metrics.put_metric(f"{stage.capitalize()}Latency", milliseconds, "Milliseconds")
        if request.detections is not None:
            metrics.put_metric("Detections", request.detections, "Count")
        if request.pixels is not None:
            metrics.put_metric("ImagePixels", request.pixels, "Count")
        metrics.set_property("InferenceId", request.inference_id)
        metrics.set_property("StatusCode", request.status)
        await metrics.flush()
