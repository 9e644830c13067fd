"""The demo page's server: the page, and one route that sends a photo to one detector.

``POST /api/detect?threshold=&mode=&classes=&max_detections=`` forwards the body, its
Content-Type and those parameters (as SageMaker's Custom-Attributes) to the target it was
started with, and nowhere else: a server's ``/invocations`` (``--url``), or a SageMaker endpoint
called through boto3 with the caller's AWS credentials (``--endpoint``), which therefore never
reach the browser. Bodies over SageMaker's 6 MB are refused before anything is forwarded; the
detector's errors come back with their status and JSON, an unreachable detector is a 502.
``GET /api/latency`` reads a server's own latency histogram from its ``/metrics`` for the page's
chart (a SageMaker endpoint has none to read).

Only the page itself may use the route. With ``--endpoint`` every call spends the user's AWS
credentials, and any web page the user visits can send a request to 127.0.0.1: a ``no-cors``
POST whose answer it cannot read still runs, and a name the attacker rebinds to 127.0.0.1 (DNS
rebinding) can even read the answers. So a request naming another host than this server's
(``Host``), coming from another origin (``Origin``, ``Sec-Fetch-Site``), or carrying a body that
is not an image (the only kinds a cross-site form or ``no-cors`` fetch can send are text and
forms) is refused before anything is forwarded, as is a query parameter the route does not take.
"""

import asyncio
import ipaddress
import json
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import botocore.exceptions
from aiohttp import ClientError, web

from container.door import guard, listening, logs
from container.door.prometheus import latency_histogram
from container.door.responses import Handler, error_response, json_errors
from container.door.upstream import Answer, Upstream
from inference import content_types, params
from inference.errors import RequestError, error_document
from inference.headers import CUSTOM_ATTRIBUTES, attributes_fit
from scripts.lib.cloud import aws
from scripts.lib.errors import CommandError

PAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo_page")
PAGE_FILES = {
    "/": ("index.html", "text/html"),
    "/demo.css": ("demo.css", "text/css"),
    "/demo.js": ("demo.js", "text/javascript"),
}
PARAMETERS = tuple(attribute.name for attribute in params.ATTRIBUTES)
MAX_BODY_BYTES = 6 << 20
TIMEOUT_SECONDS = 120
METRICS_TIMEOUT_SECONDS = 5
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("", "0.0.0.0", "::")
SAME_ORIGIN_FETCHES = ("same-origin", "none")  # Sec-Fetch-Site: the page itself, or typed in
logger = logging.getLogger("sm-detect.demo")


def custom_attributes(query: Mapping[str, str]) -> str:
    """``threshold=0.3,mode=square416`` from the request's query parameters, checked as the
    server checks them; ``guard.Refused`` (400) for an unknown or bad one."""
    unknown = sorted(set(query) - set(PARAMETERS))
    if unknown:
        raise guard.Refused(
            400,
            "InvalidParameter",
            f"unknown query parameter {unknown[0]!r}; known: " + ", ".join(PARAMETERS),
        )
    attributes = ",".join(f"{name}={query[name]}" for name in PARAMETERS if query.get(name))
    if not attributes_fit(attributes):
        raise guard.Refused(
            400, "InvalidParameter", "query parameters must be printable US-ASCII (1024 at most)"
        )
    try:
        params.parse_attributes(attributes)
    except RequestError as error:
        raise guard.Refused(error.status, error.code, error.message) from None
    return attributes


def host_name(host_header: str) -> str:
    """``127.0.0.1:8090`` -> ``127.0.0.1``; ``[::1]:8090`` -> ``::1``."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")]
    return host_header.rpartition(":")[0] if host_header.count(":") == 1 else host_header


def is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class SameOrigin:
    """Which requests come from the page this server serves, and nothing else."""

    def __init__(self, bound_host: str, allowed_hosts: Iterable[str] = ()) -> None:
        self.names = {*LOOPBACK_NAMES, bound_host, *allowed_hosts}
        # bound to every address: reached by any of the machine's addresses, never by a name
        # an attacker controls (rebinding needs a name)
        self.any_address = bound_host in WILDCARDS

    def host_allowed(self, host_header: str) -> bool:
        name = host_name(host_header).lower()
        return name in self.names or (self.any_address and is_ip_address(name))

    def refusal(self, request: web.Request, api: bool) -> guard.Refused | None:
        """Why ``request`` is refused (a ``guard.Refused``), or None."""
        if not self.host_allowed(request.headers.get("Host", "")):
            return guard.Refused(
                403, "ForbiddenHost", "this server answers only for its own address"
            )
        if not api:
            return None  # the page itself may be opened from a link on any site
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.headers['Host']}":
            return guard.Refused(403, "ForbiddenOrigin", "only the demo page may call its API")
        fetch_site = request.headers.get("Sec-Fetch-Site")
        if fetch_site is not None and fetch_site not in SAME_ORIGIN_FETCHES:
            return guard.Refused(403, "ForbiddenOrigin", "only the demo page may call its API")
        return None


class Target(Protocol):
    """Where the demo sends photos."""

    description: str

    def attach(self, app: web.Application) -> None: ...

    async def detect(self, body: bytes, content_type: str, attributes: str) -> Answer: ...

    async def latency(self) -> dict[str, Any] | None: ...


class UrlTarget:
    """A server's ``/invocations``: ``sm-detect serve``, the container, or a twin before it."""

    def __init__(self, url: str) -> None:
        self.upstream = Upstream(url)
        self.description = url

    def attach(self, app: web.Application) -> None:
        self.upstream.attach(app)

    async def detect(self, body: bytes, content_type: str, attributes: str) -> Answer:
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if attributes:
            headers[CUSTOM_ATTRIBUTES] = attributes
        return await self.upstream.post("/invocations", body, headers, TIMEOUT_SECONDS)

    async def latency(self) -> dict[str, Any] | None:
        """The server's own request-latency histogram, from its ``/metrics``; None without."""
        answer = await self.upstream.get("/metrics", METRICS_TIMEOUT_SECONDS)
        if answer.status != 200:
            return None
        return latency_histogram(answer.body.decode("utf-8", "replace"))


class EndpointTarget:
    """A SageMaker endpoint, through boto3's sagemaker-runtime client (signed here)."""

    def __init__(self, session: aws.Aws, endpoint: str) -> None:
        self.session = session
        self.endpoint = endpoint
        self.description = f"SageMaker endpoint {endpoint} ({session.region})"

    def attach(self, app: web.Application) -> None:
        pass

    async def latency(self) -> dict[str, Any] | None:
        return None  # SageMaker routes only /ping and /invocations to a container

    async def detect(self, body: bytes, content_type: str, attributes: str) -> Answer:
        return await asyncio.to_thread(self.invoke, body, content_type, attributes)

    def invoke(self, body: bytes, content_type: str, attributes: str) -> Answer:
        options = {"CustomAttributes": attributes} if attributes else {}
        try:
            answer = self.session.client(aws.RUNTIME).invoke_endpoint(
                EndpointName=self.endpoint,
                Body=body,
                ContentType=content_type,
                Accept="application/json",
                **options,
            )
        except botocore.exceptions.ClientError as error:
            # the container's own error, unwrapped from SageMaker's ModelError
            status = error.response.get("OriginalStatusCode") or error.response.get(
                "ResponseMetadata", {}
            ).get("HTTPStatusCode", 502)
            message = error.response.get("OriginalMessage") or json.dumps(
                error_document(error.response["Error"].get("Code", "Error"), str(error))
            )
            return Answer(int(status), message.encode(), "application/json")
        except botocore.exceptions.BotoCoreError as error:
            raise ClientError(str(error)) from None
        return Answer(200, answer["Body"].read(), answer["ContentType"])


class Demo:
    """The page and its one route, before ``target`` (a ``UrlTarget`` or ``EndpointTarget``)."""

    def __init__(
        self,
        target: Target,
        host: str = "127.0.0.1",
        allowed_hosts: Iterable[str] = (),
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.target = target
        self.same_origin = SameOrigin(host, allowed_hosts)
        self.limits = guard.Limits(max_body_bytes=max_body_bytes)
        self.budget = guard.Budget(self.limits.buffered_bytes)

    def application(self) -> web.Application:
        app = web.Application(middlewares=[json_errors, self.only_from_the_page])
        for path in PAGE_FILES:
            app.router.add_get(path, self.page)
        app.router.add_get("/api/info", self.info)
        app.router.add_get("/api/latency", self.latency)
        app.router.add_post("/api/detect", self.detect)
        self.target.attach(app)
        return app

    @web.middleware
    async def only_from_the_page(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        refused = self.same_origin.refusal(request, api=request.path.startswith("/api/"))
        if refused:
            # another site's attempts are the operator's to see (a preflight included)
            logger.warning(
                "%s %s %d %s",
                guard.printable(request.method),
                guard.printable(request.path),
                refused.status,
                refused.code,
            )
            raise refused
        return await handler(request)

    async def page(self, request: web.Request) -> web.Response:
        name, media_type = PAGE_FILES[request.path]
        with open(os.path.join(PAGE_DIR, name), "rb") as file:
            return web.Response(body=file.read(), content_type=media_type, charset="utf-8")

    async def info(self, _request: web.Request) -> web.Response:
        return web.json_response({"target": self.target.description})

    async def latency(self, _request: web.Request) -> web.Response:
        try:
            histogram = await self.target.latency()
        except (TimeoutError, ClientError):
            histogram = None
        if histogram is None:
            return error_response(
                404, "NoMetrics", "the detector shows no /metrics (a SageMaker endpoint never does)"
            )
        return web.json_response(histogram)

    async def detect(self, request: web.Request) -> web.Response:
        content_type = request.headers.get("Content-Type", "")
        if content_types.base(content_type) not in (
            *content_types.IMAGE_TYPES,
            content_types.ANY_IMAGE,
        ):
            raise guard.Refused(
                415,
                "UnsupportedContentType",
                f"send a photo as image/* (got Content-Type {content_type[:60]!r})",
            )
        attributes = custom_attributes(request.query)
        with self.budget.holding() as share:
            body = await guard.read_body(request, self.limits, share)
        try:
            answer = await self.target.detect(body, content_type, attributes)
        except TimeoutError:
            return error_response(504, "DetectorTimeout", "the detector did not answer in time")
        except ClientError as error:
            return error_response(
                502, "DetectorUnavailable", f"the detector cannot be reached: {error}"
            )
        headers = {"Content-Type": answer.media_type}
        if "Server-Timing" in answer.headers:
            headers["Server-Timing"] = answer.headers["Server-Timing"]
        return web.Response(body=answer.body, status=answer.status, headers=headers)


def serve(demo: Demo, host: str, port: int) -> None:
    """Serve the demo until SIGTERM or SIGINT; port 0 picks a free port and says it."""
    logs.configure()

    def announce(url: str) -> None:
        print(listening.ANNOUNCEMENT.format(url=url), f"-> {demo.target.description}", flush=True)

    try:
        asyncio.run(
            listening.serve_until_stopped(
                demo.application(), host, port, demo.limits, error_response, on_listening=announce
            )
        )
    except OSError as error:
        raise CommandError(f"cannot listen on {host}:{port}: {error.strerror}") from None
