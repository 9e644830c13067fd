"""The demo page's server: the page, and one route that sends a photo to one detector.

``POST /api/detect?threshold=&mode=&classes=&max_detections=`` forwards the body, its
Content-Type and those parameters (as SageMaker's Custom-Attributes) to the target it was
started with, and nowhere else: a server's ``/invocations`` (``--url``), or a SageMaker endpoint
called through boto3 with the caller's AWS credentials (``--endpoint``), which therefore never
reach the browser. Bodies over SageMaker's 6 MB are refused before anything is forwarded; the
detector's errors come back with their status and JSON, an unreachable detector is a 502.
"""

import asyncio
import json
import os

import botocore.exceptions
from aiohttp import ClientError, web

from container import guard, listening, logs
from container.responses import error_response
from container.upstream import Answer, Upstream
from inference.errors import error_document
from inference.headers import CUSTOM_ATTRIBUTES
from scripts.lib import aws
from scripts.lib.errors import CommandError

PAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo_page")
PAGE_FILES = {
    "/": ("index.html", "text/html"),
    "/demo.css": ("demo.css", "text/css"),
    "/demo.js": ("demo.js", "text/javascript"),
}
PARAMETERS = ("threshold", "max_detections", "classes", "mode")
MAX_BODY_BYTES = 6 << 20
TIMEOUT_SECONDS = 120


def custom_attributes(query):
    """``threshold=0.3,mode=square416`` from the request's query parameters."""
    return ",".join(f"{name}={query[name]}" for name in PARAMETERS if query.get(name))


class UrlTarget:
    """A server's ``/invocations``: ``sm-detect serve``, the container, or a twin before it."""

    def __init__(self, url):
        self.upstream = Upstream(url)
        self.description = url

    def attach(self, app):
        self.upstream.attach(app)

    async def detect(self, body, content_type, attributes):
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if attributes:
            headers[CUSTOM_ATTRIBUTES] = attributes
        return await self.upstream.post("/invocations", body, headers, TIMEOUT_SECONDS)


class EndpointTarget:
    """A SageMaker endpoint, through boto3's sagemaker-runtime client (signed here)."""

    def __init__(self, session, endpoint):
        self.session = session
        self.endpoint = endpoint
        self.description = f"SageMaker endpoint {endpoint} ({session.region})"

    def attach(self, app):
        pass

    async def detect(self, body, content_type, attributes):
        return await asyncio.to_thread(self.invoke, body, content_type, attributes)

    def invoke(self, body, content_type, attributes):
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

    def __init__(self, target, max_body_bytes=MAX_BODY_BYTES):
        self.target = target
        self.limits = guard.Limits(max_body_bytes=max_body_bytes)
        self.budget = guard.Budget(self.limits.buffered_bytes)

    def application(self):
        app = web.Application()
        for path in PAGE_FILES:
            app.router.add_get(path, self.page)
        app.router.add_get("/api/info", self.info)
        app.router.add_post("/api/detect", self.detect)
        self.target.attach(app)
        return app

    async def page(self, request):
        name, media_type = PAGE_FILES[request.path]
        with open(os.path.join(PAGE_DIR, name), "rb") as file:
            return web.Response(body=file.read(), content_type=media_type, charset="utf-8")

    async def info(self, _request):
        return web.json_response({"target": self.target.description})

    async def detect(self, request):
        try:
            with self.budget.holding() as share:
                body = await guard.read_body(request, self.limits, share)
        except guard.Refused as refused:
            return error_response(refused.status, refused.code, refused.message)
        content_type = request.headers.get("Content-Type") or "application/x-image"
        try:
            answer = await self.target.detect(body, content_type, custom_attributes(request.query))
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


def serve(demo, host, port):
    """Serve the demo until SIGTERM or SIGINT; port 0 picks a free port and says it."""
    logs.configure()

    def announce(url):
        print(listening.ANNOUNCEMENT.format(url=url), f"-> {demo.target.description}", flush=True)

    try:
        asyncio.run(
            listening.serve_until_stopped(
                demo.application(), host, port, demo.limits, error_response, on_listening=announce
            )
        )
    except OSError as error:
        raise CommandError(f"cannot listen on {host}:{port}: {error.strerror}") from None
