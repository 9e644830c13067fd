"""The public API on a laptop: ``sm-detect gateway --public``, the twin of what ``expose`` makes.

It answers ``POST /{stage}/detect`` as the deployed API Gateway REST API does, in one auth mode at
a time: an API key in ``x-api-key``, or a bearer token checked by the Lambda authorizer's own
module (``scripts/lib/authorizer``), called in process. A refused key or token is a 403, a caller
over its rate (a token bucket: ``rate`` per second, ``burst`` deep) or its daily quota a 429 with
``Retry-After``, and nothing is forwarded; otherwise the request goes to the server behind it
(``--upstream``) with its Content-Type and Accept, and the ``attributes`` query parameter as
``X-Amzn-SageMaker-Custom-Attributes``, and the server's answer comes back unchanged. Errors are in
the project's JSON shape, as the deployed API's gateway responses are. With ``--cors-origin``, a
browser on those origins may call it (preflight, and the headers on every answer).
"""

import dataclasses
import datetime
import hmac
import math
import time

from aiohttp import ClientError, web

from container import guard
from container.responses import error_response
from container.upstream import Upstream
from inference.headers import CUSTOM_ATTRIBUTES
from scripts.lib.authorizer import token_authorizer

FORWARDED = ("Content-Type", "Accept")
MAX_BODY_BYTES = 6 * 1024 * 1024  # SageMaker's limit, under API Gateway's 10 MB
UPSTREAM_TIMEOUT_SECONDS = 60
ALLOWED_HEADERS = "Content-Type,Accept,Authorization,x-api-key"


class TokenBucket:
    """``rate`` requests per second on average, ``burst`` at once."""

    def __init__(self, rate, burst, clock=time.monotonic):
        self.rate, self.capacity, self.clock = rate, burst, clock
        self.tokens, self.updated = float(burst), clock()

    def take(self):
        """0 when a request may pass, else the seconds until one may."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclasses.dataclass
class DailyQuota:
    """At most ``limit`` requests per UTC day, as a usage plan's quota counts them."""

    limit: int
    day: str = ""
    used: int = 0

    def take(self, today=None):
        today = today or datetime.datetime.now(datetime.UTC).date().isoformat()
        if today != self.day:
            self.day, self.used = today, 0
        if self.used >= self.limit:
            return False
        self.used += 1
        return True


class PublicGateway:
    def __init__(
        self,
        upstream,
        stage="prod",
        api_keys=(),
        token_secret=None,
        rate=10.0,
        burst=20,
        quota=None,
        cors_origins=(),
        timeout_seconds=UPSTREAM_TIMEOUT_SECONDS,
    ):
        if bool(api_keys) == bool(token_secret):
            raise ValueError("one auth mode: API keys or a token secret")
        self.upstream = Upstream(upstream)
        self.stage = stage
        self.api_keys = tuple(api_keys)
        self.token_secret = token_secret
        self.rate, self.burst, self.quota = rate, burst, quota
        self.buckets, self.quotas = {}, {}
        self.cors_origins = tuple(cors_origins)
        self.timeout_seconds = timeout_seconds
        self.limits = guard.Limits(max_body_bytes=MAX_BODY_BYTES)
        self.budget = guard.Budget(self.limits.buffered_bytes)

    @property
    def auth(self):
        return "api-key" if self.api_keys else "token"

    def application(self):
        app = web.Application(middlewares=[self.cors])
        app.router.add_post(f"/{self.stage}/detect", self.detect)
        app.router.add_route("OPTIONS", f"/{self.stage}/detect", self.preflight)
        app.router.add_route("*", "/{tail:.*}", self.missing)
        self.upstream.attach(app)
        return app

    @web.middleware
    async def cors(self, request, handler):
        response = await handler(request)
        origin = request.headers.get("Origin")
        if origin and origin in self.cors_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response

    async def preflight(self, request):
        if request.headers.get("Origin") not in self.cors_origins:
            return error_response(403, "Forbidden", "this origin may not call the API")
        return web.Response(
            status=200,
            headers={
                "Access-Control-Allow-Methods": "POST,OPTIONS",
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": "600",
            },
        )

    async def missing(self, _request):
        # API Gateway's answer for a path or method it does not have
        return error_response(403, "MissingAuthenticationToken", "Missing Authentication Token")

    def caller(self, request):
        """Who is calling (the key, or the token's subject); ``guard.Refused`` 403 otherwise."""
        if self.api_keys:
            offered = request.headers.get("x-api-key", "")
            for key in self.api_keys:
                if hmac.compare_digest(offered.encode(), key.encode()):
                    return key
            raise guard.Refused(403, "Forbidden", "Forbidden")
        if not request.headers.get("Authorization"):
            # API Gateway's UNAUTHORIZED, which `expose` answers as a 403
            raise guard.Refused(403, "Unauthorized", "Unauthorized")
        try:
            return token_authorizer.subject_of(
                request.headers.get("Authorization"), self.token_secret
            )
        except token_authorizer.Denied:
            raise guard.Refused(
                403,
                "AccessDenied",
                "User is not authorized to access this resource with an explicit deny",
            ) from None

    def admit(self, caller):
        """The rate and the daily quota: per key with API keys, for the whole API with tokens."""
        scope = caller if self.api_keys else "*"
        bucket = self.buckets.setdefault(scope, TokenBucket(self.rate, self.burst))
        wait = bucket.take()
        if wait:
            raise Throttled("Too Many Requests", wait)
        if self.quota and self.api_keys:
            quota = self.quotas.setdefault(scope, DailyQuota(self.quota))
            if not quota.take():
                tomorrow = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)).date()
                midnight = datetime.datetime.combine(tomorrow, datetime.time(), datetime.UTC)
                left = (midnight - datetime.datetime.now(datetime.UTC)).total_seconds()
                raise Throttled("Limit Exceeded", left)

    async def detect(self, request):
        try:
            self.admit(self.caller(request))
        except guard.Refused as refused:
            return error_response(refused.status, refused.code, refused.message)
        except Throttled as throttled:
            return error_response(
                429,
                "TooManyRequests",
                throttled.message,
                headers={"Retry-After": str(max(1, math.ceil(throttled.seconds)))},
            )
        headers = {name: request.headers[name] for name in FORWARDED if name in request.headers}
        if "attributes" in request.query:
            headers[CUSTOM_ATTRIBUTES] = request.query["attributes"]
        with self.budget.holding() as share:
            try:
                body = await guard.read_body(request, self.limits, share)
            except guard.Refused as refused:
                return error_response(refused.status, refused.code, refused.message)
            try:
                answer = await self.upstream.post(
                    "/invocations", body, headers, self.timeout_seconds
                )
            except TimeoutError:
                return error_response(504, "GatewayTimeout", "the model did not answer in time")
            except ClientError:
                return error_response(502, "BadGateway", "the model could not be reached")
        return web.Response(
            body=answer.body, status=answer.status, headers={"Content-Type": answer.media_type}
        )


class Throttled(Exception):
    def __init__(self, message, seconds):
        super().__init__(message)
        self.message, self.seconds = message, seconds
