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
import threading
import time

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web

from container import readiness

logger = logging.getLogger(__name__)

FORWARDED_HEADERS = ("Content-Type", "Accept", "X-Amzn-SageMaker-Custom-Attributes")
PING_TIMEOUT_SECONDS = 2


def error_response(status, code, message):
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class FrontDoor:
    """The HTTP application; ``upstream`` is MMS's address, e.g. ``http://127.0.0.1:9080``."""

    def __init__(
        self, upstream, model_name, max_payload_bytes, timeout_seconds, workers, ready_dir
    ):
        self.upstream = upstream.rstrip("/")
        self.ready_dir = ready_dir
        self.model_name = model_name
        self.max_payload_bytes = max_payload_bytes
        self.timeout = ClientTimeout(total=timeout_seconds + 5)
        self.workers = workers
        self.session = None
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
        self.session = ClientSession(connector=TCPConnector(limit=0), auto_decompress=False)

    async def close_session(self, _app):
        await self.session.close()

    async def ready(self):
        """True while a worker that loaded the model lives and MMS lists a READY worker."""
        if not readiness.live_workers(self.ready_dir):
            return False
        url = f"{self.upstream}/models/{self.model_name}"
        timeout = ClientTimeout(total=PING_TIMEOUT_SECONDS)
        try:
            async with self.session.get(url, timeout=timeout) as response:
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
        url = f"{self.upstream}/predictions/{self.model_name}"
        try:
            async with self.session.post(
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


class FrontDoorThread:
    """Runs a ``FrontDoor`` on its own event loop in a daemon thread."""

    def __init__(self, front_door, host, port):
        self.front_door, self.host, self.port = front_door, host, port
        self.loop = asyncio.new_event_loop()
        self.runner = None
        self.started = threading.Event()
        self.failure = None
        self.thread = threading.Thread(target=self.run, name="front-door", daemon=True)

    def start(self):
        """Start serving; raises if the port cannot be bound."""
        self.thread.start()
        self.started.wait()
        if self.failure:
            raise self.failure

    def run(self):
        asyncio.set_event_loop(self.loop)
        try:
            # requests are drained before stop(); idle keep-alive connections need not be awaited
            self.runner = web.AppRunner(
                self.front_door.application(), access_log=None, shutdown_timeout=1.0
            )
            self.loop.run_until_complete(self.runner.setup())
            site = web.TCPSite(self.runner, self.host, self.port, reuse_address=True)
            self.loop.run_until_complete(site.start())
        except Exception as error:  # noqa: BLE001 - reported to the starting thread
            self.failure = error
            self.started.set()
            return
        self.started.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())

    def drain(self, timeout_seconds):
        """Refuse new requests, then wait for those in flight (at most ``timeout_seconds``)."""
        self.loop.call_soon_threadsafe(setattr, self.front_door, "draining", True)
        deadline = time.monotonic() + timeout_seconds
        while self.front_door.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.front_door.in_flight

    def stop(self):
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
