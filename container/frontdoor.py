"""The front door: the server on SageMaker's port, in front of multi-model-server.

MMS's own ``/ping`` answers 200 while no worker has loaded the model (its status code is always
200), and SageMaker reads only the status code. The front door answers ``/ping`` with 200 only
while a worker that has loaded the model is alive (``readiness``) and MMS lists a READY worker,
503 otherwise. It also enforces the payload limit with a JSON 413 before a byte reaches a
worker, serves batch transform's ``/execution-parameters``, and gives every error the project's
JSON shape. Each invocation gets an inference id (``record``), is sent once more if its worker
dies under it, and ends in one log line, one set of CloudWatch metrics (``metrics``) and its
Prometheus series (``door.prometheus``, at ``/metrics``). For runs outside SageMaker it also
answers probes as Kubernetes asks them: ``/healthz`` (the server lives) and ``/readyz`` (every
worker has loaded and warmed the model), and says what it serves at ``/info``.
"""

import asyncio
import collections
import contextlib
import json
import logging
import os
import signal
import time
from typing import Any

from aiohttp import ClientError, web

from container import readiness
from container.door import guard
from container.door.prometheus import Prometheus
from container.door.responses import error_response, json_errors
from container.door.upstream import Answer, Upstream
from container.metrics import Metrics
from container.multi_model import ModelRegistry, Models
from container.record import SERVER_TIMING, Record, inference_id, server_timing
from inference.errors import parse_error
from inference.headers import (
    CUSTOM_ATTRIBUTES,
    INFERENCE_ID,
    MAX_CUSTOM_ATTRIBUTES,
    TARGET_MODEL,
    attributes_fit,
)

logger = logging.getLogger("sm-detect.frontdoor")

FORWARDED_HEADERS = ("Content-Type", "Accept", CUSTOM_ATTRIBUTES)
PING_TIMEOUT_SECONDS = 2


# MMS listens on Unix sockets: the host part of its URLs is never resolved
MODEL_SERVER_URL = "http://model-server"


class FrontDoor:
    """The HTTP application in front of MMS's inference and management sockets."""

    def __init__(
        self,
        inference_socket: str,
        management_socket: str,
        model_name: str,
        max_payload_bytes: int,
        timeout_seconds: float,
        workers: int,
        ready_dir: str,
        metrics: Metrics | None = None,
        models: Models | None = None,
        prometheus: Prometheus | None = None,
        served: dict[str, Any] | None = None,
    ) -> None:
        """``prometheus``: a ``door.prometheus.Prometheus`` for ``/metrics`` (None: off);
        ``served``: what ``/info`` says of a single model (name, precision, classes, ...)."""
        self.ready_dir = ready_dir
        self.prometheus = prometheus
        self.served = served or {}
        self.metrics = metrics or Metrics("sm-detect", enabled=False)
        self.model_name = model_name
        self.max_payload_bytes = max_payload_bytes
        self.limits = guard.Limits(max_body_bytes=max_payload_bytes)
        self.budget = guard.Budget(self.limits.buffered_bytes)
        self.timeout_seconds = timeout_seconds
        self.workers = workers
        self.inference = Upstream(MODEL_SERVER_URL, inference_socket)
        self.management = Upstream(MODEL_SERVER_URL, management_socket)
        # a multi-model endpoint's models
        self.registry = ModelRegistry(self.management, models, workers) if models else None
        self.in_flight = 0
        self.at_model_server: collections.Counter[str] = collections.Counter()  # by inference id
        self.draining = False
        self.has_been_ready = False  # since the model server (re)started

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ping", self.ping)
        app.router.add_post("/invocations", self.invocations)
        app.router.add_get("/execution-parameters", self.execution_parameters)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        if self.served:
            app.router.add_get("/info", self.info)
        if self.prometheus:
            app.router.add_get("/metrics", self.metrics_exposition)
        if self.registry:
            self.registry.attach(app, self.invoke)
        self.inference.attach(app)
        self.management.attach(app)
        app.middlewares.append(json_errors)
        return app

    async def ready(self) -> bool:
        """True while a worker that loaded the model lives and MMS lists a READY worker; for a
        multi-model endpoint, while MMS answers (it starts with no model)."""
        if self.registry:
            self.has_been_ready = await self.registry.ready()
            return self.has_been_ready
        if not readiness.live_workers(self.ready_dir):
            return False
        try:
            status, described = await self.management.get_json(
                f"/models/{self.model_name}", PING_TIMEOUT_SECONDS
            )
        except (TimeoutError, ClientError):
            return False
        if status != 200 or not isinstance(described, list | dict):
            return False
        models = described if isinstance(described, list) else [described]
        ready = any(
            worker.get("status") == "READY"
            for model in models
            for worker in model.get("workers", [])
        )
        self.has_been_ready = self.has_been_ready or ready
        return ready

    async def ping(self, _request: web.Request) -> web.Response:
        healthy = not self.draining and await self.ready()
        # SageMaker pings every few seconds: only a level that asks for more shows them
        logger.debug("GET /ping %d", 200 if healthy else 503)
        if healthy:
            return web.json_response({"status": "healthy"})
        return web.json_response({"status": "starting"}, status=503)

    async def healthz(self, _request: web.Request) -> web.Response:
        """Liveness: the door answers; 503 only while it drains to stop."""
        if self.draining:
            return web.json_response({"status": "stopping"}, status=503)
        return web.json_response({"status": "alive"})

    async def readyz(self, _request: web.Request) -> web.Response:
        """Readiness: 200 only while every worker has loaded and warmed the model (a
        multi-model server: while its model server answers), 503 otherwise."""
        live = len(readiness.live_workers(self.ready_dir))
        if self.registry:
            ready = not self.draining and await self.ready()
        else:
            ready = not self.draining and live >= self.workers and await self.ready()
        document = {"status": "ready" if ready else "not ready", "workers_ready": live}
        if not self.registry:
            document["workers"] = self.workers
        return web.json_response(document, status=200 if ready else 503)

    async def info(self, _request: web.Request) -> web.Response:
        return web.json_response({**self.served, "workers": self.workers})

    async def metrics_exposition(self, _request: web.Request) -> web.Response:
        assert self.prometheus is not None  # the route exists only with it
        body, content_type = self.prometheus.exposition()
        media_type, _, charset = content_type.partition("; charset=")
        return web.Response(body=body, content_type=media_type.strip(), charset=charset or None)

    async def execution_parameters(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "MaxConcurrentTransforms": self.workers,
                "BatchStrategy": "SINGLE_RECORD",
                "MaxPayloadInMB": self.max_payload_bytes // (1024 * 1024),
            }
        )

    async def invocations(self, request: web.Request) -> web.Response:
        if self.registry:
            return error_response(
                404,
                "ModelNotFound",
                "this endpoint serves many models: invoke one, /models/NAME/invoke",
            )
        return await self.invoke(request, self.model_name)

    async def invoke(self, request: web.Request, model_name: str) -> web.Response:
        """An invocation of ``model_name``: /invocations, or a multi-model endpoint's model."""
        started = time.perf_counter()
        record = Record(inference_id=inference_id(request.headers.get(INFERENCE_ID)) or "")
        record.target_model = guard.printable(request.headers.get(TARGET_MODEL, "")[:200])
        if self.draining:
            response = error_response(503, "ShuttingDown", "the server is stopping")
        elif not self.has_been_ready and not await self.ready():
            response = error_response(
                503,
                "ModelLoading",
                "the model is still loading; retry when /ping answers 200",
                headers={"Retry-After": "1"},
            )
        elif not record.inference_id:
            response = error_response(
                400,
                "InvalidParameter",
                f"{INFERENCE_ID} must be 1 to 64 printable US-ASCII characters, the first not "
                "a space",
            )
        else:
            self.in_flight += 1
            try:
                response = await self.forward(request, record, model_name)
            except guard.Refused as refused:
                response = error_response(refused.status, refused.code, refused.message)
            finally:
                self.in_flight -= 1
        if record.inference_id:
            response.headers[INFERENCE_ID] = record.inference_id
        record.status = response.status
        record.response_bytes = len(body_of(response))
        record.error_code = error_code_of(response)
        record.latency_ms = (time.perf_counter() - started) * 1000
        record.log()
        await self.metrics.record(record)
        if self.prometheus:
            if self.registry:
                label = self.prometheus.label(model_name, model_name in self.registry.admitted)
            else:
                label = self.served.get("model", model_name)
            self.prometheus.record(record, label)
        return response

    async def forward(self, request: web.Request, record: Record, model_name: str) -> web.Response:
        record.content_type = guard.printable(request.headers.get("Content-Type", "")[:100])
        record.accept = guard.printable(request.headers.get("Accept", "")[:100])
        attributes = request.headers.get(CUSTOM_ATTRIBUTES, "")
        if not attributes_fit(attributes):
            # SageMaker's own rule; MMS would answer a long header in plain text
            return error_response(
                400,
                "InvalidParameter",
                f"{CUSTOM_ATTRIBUTES} must be at most {MAX_CUSTOM_ATTRIBUTES} US-ASCII characters",
            )
        with self.budget.holding() as share:
            body = await guard.read_body(request, self.limits, share)
            record.bytes = len(body)
            headers = {
                name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers
            }
            headers[INFERENCE_ID] = record.inference_id
            self.at_model_server[record.inference_id] += 1
            try:
                answer = await self.predict(body, headers, record, model_name)
            except TimeoutError:
                self.stop_worker_answering(record.inference_id)
                return error_response(
                    504,
                    "ModelTimeout",
                    f"the model did not answer within {self.timeout_seconds} s",
                )
            except ClientError as error:
                return error_response(503, "ModelUnavailable", f"model server unreachable: {error}")
            finally:
                self.at_model_server -= collections.Counter({record.inference_id: 1})
        record.take_worker_report(answer.headers)
        if answer.status == 404 and self.registry and not is_our_error(answer.body):
            return error_response(404, "ModelNotFound", f"model {model_name} is not loaded")
        if answer.status >= 400 and not is_our_error(answer.body):
            return model_server_error(answer.status, answer.body)
        headers = {"Content-Type": answer.media_type}
        if record.stages_ms:
            headers[SERVER_TIMING] = server_timing(record.stages_ms)
        return web.Response(body=answer.body, status=answer.status, headers=headers)

    async def predict(
        self, body: bytes, headers: dict[str, str], record: Record, model_name: str
    ) -> Answer:
        """The model server's answer; asked again once if the worker died under the request.

        Inference has no side effects, so a request whose worker was killed (out of memory, a
        crash) is sent again, and the caller sees a slower answer instead of an error. An
        error the model answered is never retried.
        """
        path = f"/predictions/{model_name}"
        try:
            answer = await self.inference.post(path, body, headers, self.timeout_seconds)
        except ClientError as error:
            reason = f"the model server connection failed ({error})"
        else:
            if not worker_died(answer):
                return answer
            reason = "its worker died"
        record.retried = True
        logger.warning(
            "request %s: %s; sending it once more",
            record.inference_id,
            reason,
            extra={"fields": {"inference_id": record.inference_id, "retry": True}},
        )
        return await self.inference.post(path, body, headers, self.timeout_seconds)

    def queued(self) -> int:
        """Requests passed to the model server that no worker has started on (a worker names
        the request it answers in the ready folder)."""
        answering = readiness.answering(self.ready_dir)
        return sum(n for name, n in self.at_model_server.items() if name not in answering)

    def stop_worker_answering(self, inference_id: str) -> None:
        """Stop the worker still busy with a request past its time limit (MMS starts another):
        MMS's own limit is a load's, far longer. A request still queued stops nothing."""
        pid = readiness.worker_answering(self.ready_dir, inference_id)
        if pid is None:
            return
        logger.error(
            "request %s: no answer within %d s; stopping its worker (pid %d)",
            inference_id,
            self.timeout_seconds,
            pid,
            extra={"fields": {"inference_id": inference_id, "worker_pid": pid}},
        )
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    async def drain(self, timeout_seconds: float) -> int:
        """Refuse new requests, then wait for those in flight; returns how many are left."""
        self.draining = True
        deadline = time.monotonic() + timeout_seconds
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self.in_flight


def worker_died(answer: Answer) -> bool:
    """MMS's answer for a request whose worker process ended before answering it."""
    if answer.status < 500 or is_our_error(answer.body):
        return False
    return b"Worker died" in answer.body


def error_code_of(response: web.Response) -> str:
    """The ``code`` of an error answer in the project's shape; ``""`` for a success."""
    if response.status < 400:
        return ""
    parsed = parse_error(body_of(response))
    return parsed[0] if parsed else str(response.status)


def body_of(response: web.Response) -> bytes:
    """The bytes of an answer the door made (every one of them has its body in memory)."""
    body = response.body
    return bytes(body) if isinstance(body, bytes | bytearray) else b""


def is_our_error(payload: bytes) -> bool:
    """Whether an error body is the handler's own ``{"error": {"code", "message"}}``."""
    return parse_error(payload) is not None


def model_server_error(status: int, payload: bytes) -> web.Response:
    """MMS's own errors (queue full, worker died, a malformed message) in the project's shape."""
    text = payload.decode(errors="replace")
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict):
        code = str(document.get("type") or "ModelServerError")
        message = str(document.get("message") or text)
    else:
        code, message = "ModelServerError", text
    return error_response(status, code, message[:1000])
