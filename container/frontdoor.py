"""The front door: the server on SageMaker's port, in front of multi-model-server.

MMS's own ``/ping`` answers 200 while no worker has loaded the model (its status code is always
200), and SageMaker reads only the status code. The front door answers ``/ping`` with 200 only
while a worker that has loaded the model is alive (``readiness``) and MMS lists a READY worker,
503 otherwise. It also enforces
the payload limit with a JSON 413 before a byte reaches a worker, serves batch transform's
``/execution-parameters``, and gives every error the project's JSON shape.
"""

import asyncio
import logging
import time

from aiohttp import ClientError, ClientSession, ClientTimeout, UnixConnector, web

from container import readiness

logger = logging.getLogger(__name__)

FORWARDED_HEADERS = ("Content-Type", "Accept", "X-Amzn-SageMaker-Custom-Attributes")
PING_TIMEOUT_SECONDS = 2


def error_response(status, code, message):
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


# MMS listens on Unix sockets: the host part of its URLs is never resolved
MODEL_SERVER_URL = "http://model-server"


class FrontDoor:
    """The HTTP application in front of MMS's inference and management sockets."""

    def __init__(
        self,
        inference_socket,
        management_socket,
        model_name,
        max_payload_bytes,
        timeout_seconds,
        workers,
        ready_dir,
    ):
        self.sockets = {"inference": inference_socket, "management": management_socket}
        self.ready_dir = ready_dir
        self.model_name = model_name
        self.max_payload_bytes = max_payload_bytes
        self.timeout = ClientTimeout(total=timeout_seconds + 5)
        self.workers = workers
        self.sessions = {}
        self.in_flight = 0
        self.draining = False

    def application(self):
        app = web.Application(client_max_size=self.max_payload_bytes)
        app.router.add_get("/ping", self.ping)
        app.router.add_post("/invocations", self.invocations)
        app.router.add_get("/execution-parameters", self.execution_parameters)
        app.on_startup.append(self.open_session)
        app.on_cleanup.append(self.close_session)
        app.middlewares.append(json_errors)
        return app

    async def open_session(self, _app):
        for name, path in self.sockets.items():
            self.sessions[name] = ClientSession(
                connector=UnixConnector(path=path, limit=0), auto_decompress=False
            )

    async def close_session(self, _app):
        for session in self.sessions.values():
            await session.close()

    async def ready(self):
        """True while a worker that loaded the model lives and MMS lists a READY worker."""
        if not readiness.live_workers(self.ready_dir):
            return False
        url = f"{MODEL_SERVER_URL}/models/{self.model_name}"
        timeout = ClientTimeout(total=PING_TIMEOUT_SECONDS)
        try:
            async with self.sessions["management"].get(url, timeout=timeout) as response:
                if response.status != 200:
                    return False
                described = await response.json(content_type=None)
        except (TimeoutError, ClientError, ValueError):
            return False
        models = described if isinstance(described, list) else [described]
        return any(
            worker.get("status") == "READY"
            for model in models
            for worker in model.get("workers", [])
        )

    async def ping(self, _request):
        if not self.draining and await self.ready():
            return web.json_response({"status": "healthy"})
        return web.json_response({"status": "starting"}, status=503)

    async def execution_parameters(self, _request):
        return web.json_response(
            {
                "MaxConcurrentTransforms": self.workers,
                "BatchStrategy": "SINGLE_RECORD",
                "MaxPayloadInMB": self.max_payload_bytes // (1024 * 1024),
            }
        )

    async def invocations(self, request):
        if self.draining:
            return error_response(503, "ShuttingDown", "the server is stopping")
        self.in_flight += 1
        try:
            return await self.forward(request)
        finally:
            self.in_flight -= 1

    async def forward(self, request):
        if request.content_length is not None and request.content_length > self.max_payload_bytes:
            return self.too_large(request.content_length)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge as error:
            return self.too_large(error.actual_size)
        headers = {
            name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers
        }
        url = f"{MODEL_SERVER_URL}/predictions/{self.model_name}"
        try:
            async with self.sessions["inference"].post(
                url, data=body, headers=headers, timeout=self.timeout
            ) as upstream:
                payload = await upstream.read()
                status = upstream.status
                media_type = upstream.headers.get("Content-Type", "application/octet-stream")
        except TimeoutError:
            return error_response(504, "ModelTimeout", "the model did not answer in time")
        except ClientError as error:
            return error_response(503, "ModelUnavailable", f"model server unreachable: {error}")
        if status >= 400 and not media_type.startswith("application/json"):
            # MMS's own errors (queue full, worker died) are plain text: give them our shape
            return error_response(status, "ModelServerError", payload.decode(errors="replace"))
        return web.Response(body=payload, status=status, headers={"Content-Type": media_type})

    def too_large(self, size):
        return error_response(
            413,
            "PayloadTooLarge",
            f"the body has {size} bytes, more than the limit of {self.max_payload_bytes}",
        )

    async def drain(self, timeout_seconds):
        """Refuse new requests, then wait for those in flight; returns how many are left."""
        self.draining = True
        deadline = time.monotonic() + timeout_seconds
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self.in_flight


@web.middleware
async def json_errors(request, handler):
    """aiohttp's own errors (404, 405, ...) in the project's JSON error shape."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = error.reason.replace(" ", "")
        return error_response(error.status, code, error.text or error.reason)
