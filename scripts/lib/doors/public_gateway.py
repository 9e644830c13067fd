"""The public API on a laptop: ``sm-detect gateway --public``, the twin of what ``expose`` makes.

It answers ``POST /{stage}/detect`` as the deployed API Gateway REST API does, in one auth mode at
a time: an API key in ``x-api-key`` (20 characters or more, API Gateway's own rule), or a bearer
token checked by the Lambda authorizer's own module (``scripts/lib/authorizer``), called in
process. A refused key or token is a 403, a caller over its rate (a token bucket: ``rate`` per
second, ``burst`` deep) or its daily quota a 429 with ``Retry-After``, and nothing is forwarded;
each caller (a key, or a token's subject) has its own bucket and quota, as the deployed usage
plan counts each key. Otherwise the request goes to the server behind it (``--upstream``) with
its Content-Type and Accept, and the ``attributes`` query parameter as
``X-Amzn-SageMaker-Custom-Attributes``, and the server's answer comes back unchanged. Errors are in
the project's JSON shape, as the deployed API's gateway responses are. With ``--cors-origin``, a
browser on those origins may call it (preflight, and the headers on every answer). Each request
is one log line: status, latency, and who called (a key by its last four characters).
"""

import collections
import dataclasses
import datetime
import hmac
import logging
import math
import time
from collections.abc import Callable, Iterable
from typing import TypeVar
from urllib.parse import quote

from aiohttp import ClientError, web

from container.door import guard
from container.door.responses import Handler, error_response, json_errors
from container.door.upstream import Upstream
from inference.headers import CUSTOM_ATTRIBUTES, MAX_CUSTOM_ATTRIBUTES, TARGET_MODEL, attributes_fit
from scripts.lib.authorizer import token_authorizer

FORWARDED = ("Content-Type", "Accept")
MAX_BODY_BYTES = 6 * 1024 * 1024  # SageMaker's limit, under API Gateway's 10 MB
UPSTREAM_TIMEOUT_SECONDS = 60
ALLOWED_HEADERS = "Content-Type,Accept,Authorization,x-api-key"
MIN_API_KEY_CHARACTERS = 20  # API Gateway refuses shorter key values
MAX_TRACKED_CALLERS = 10_000  # buckets and quotas kept; the least recent caller's go first

logger = logging.getLogger("sm-detect.public-api")


def check_api_key(key: str) -> None:
    """``ValueError`` for a key API Gateway would not take: short, or not printable ASCII."""
    if len(key) < MIN_API_KEY_CHARACTERS or not (key.isascii() and key.isprintable()):
        raise ValueError(
            f"an API key has at least {MIN_API_KEY_CHARACTERS} printable ASCII characters, as "
            f"API Gateway's do (got one of {len(key)}); make one with e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(30))'`"
        )


def is_header_text(value: str) -> bool:
    return value.isascii() and value.isprintable()


class TokenBucket:
    """``rate`` requests per second on average, ``burst`` at once."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.capacity, self.clock = rate, burst, clock
        self.tokens, self.updated = float(burst), clock()

    def take(self) -> float:
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

    def take(self, today: str | None = None) -> bool:
        today = today or datetime.datetime.now(datetime.UTC).date().isoformat()
        if today != self.day:
            self.day, self.used = today, 0
        if self.used >= self.limit:
            return False
        self.used += 1
        return True


State = TypeVar("State")


class Callers(collections.OrderedDict[str, State]):
    """Per-caller state, made on first use, at most ``MAX_TRACKED_CALLERS`` of them."""

    def __init__(self, make: Callable[[], State]) -> None:
        super().__init__()
        self.make = make

    def of(self, caller: str) -> State:
        if caller in self:
            self.move_to_end(caller)
        else:
            self[caller] = self.make()
            if len(self) > MAX_TRACKED_CALLERS:
                self.popitem(last=False)
        return self[caller]


class PublicGateway:
    def __init__(
        self,
        upstream: str,
        stage: str = "prod",
        api_keys: Iterable[str] = (),
        token_secret: str | None = None,
        rate: float = 10.0,
        burst: int = 20,
        quota: int | None = None,
        cors_origins: Iterable[str] = (),
        timeout_seconds: float = UPSTREAM_TIMEOUT_SECONDS,
    ) -> None:
        api_keys = tuple(api_keys)
        if bool(api_keys) == bool(token_secret):
            raise ValueError("one auth mode: API keys or a token secret")
        for key in api_keys:
            check_api_key(key)
        if token_secret:
            token_authorizer.check_secret(token_secret)
        self.upstream = Upstream(upstream)
        self.upstream_url = upstream
        self.stage = stage
        self.api_keys = api_keys
        self.token_secret = token_secret
        self.rate, self.burst, self.quota = rate, burst, quota
        self.buckets = Callers(lambda: TokenBucket(self.rate, self.burst))
        self.quotas = Callers(lambda: DailyQuota(self.quota or 0))
        self.cors_origins = tuple(cors_origins)
        self.timeout_seconds = timeout_seconds
        self.limits = guard.Limits(max_body_bytes=MAX_BODY_BYTES)
        self.budget = guard.Budget(self.limits.buffered_bytes)

    @property
    def auth(self) -> str:
        return "api-key" if self.api_keys else "token"

    def application(self) -> web.Application:
        app = web.Application(middlewares=[json_errors, self.cors])
        app.router.add_post(f"/{self.stage}/detect", self.detect)
        app.router.add_route("OPTIONS", f"/{self.stage}/detect", self.preflight)
        app.router.add_route("*", "/{tail:.*}", self.missing)
        self.upstream.attach(app)
        return app

    @web.middleware
    async def cors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        origin = request.headers.get("Origin")
        if origin and origin in self.cors_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response

    async def preflight(self, request: web.Request) -> web.Response:
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

    async def missing(self, _request: web.Request) -> web.Response:
        # API Gateway's answer for a path or method it does not have
        return error_response(403, "MissingAuthenticationToken", "Missing Authentication Token")

    def caller(self, request: web.Request) -> str:
        """Who is calling (the key, or the token's subject); ``guard.Refused`` 403 otherwise."""
        if self.api_keys:
            offered = request.headers.get("x-api-key", "")
            if is_header_text(offered):
                for key in self.api_keys:
                    if hmac.compare_digest(offered.encode(), key.encode()):
                        return key
            raise guard.Refused(403, "Forbidden", "Forbidden")
        if not request.headers.get("Authorization"):
            # API Gateway's UNAUTHORIZED, which `expose` answers as a 403
            raise guard.Refused(403, "Unauthorized", "Unauthorized")
        try:
            return token_authorizer.subject_of(
                request.headers["Authorization"], self.token_secret or ""
            )
        except token_authorizer.Denied:
            raise guard.Refused(
                403,
                "AccessDenied",
                "User is not authorized to access this resource with an explicit deny",
            ) from None

    def admit(self, caller: str) -> None:
        """The caller's own rate and daily quota, as a usage plan counts each key."""
        wait = self.buckets.of(caller).take()
        if wait:
            raise Throttled("Too Many Requests", wait)
        if self.quota and not self.quotas.of(caller).take():
            tomorrow = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)).date()
            midnight = datetime.datetime.combine(tomorrow, datetime.time(), datetime.UTC)
            left = (midnight - datetime.datetime.now(datetime.UTC)).total_seconds()
            raise Throttled("Limit Exceeded", left)

    def shown(self, caller: str | None) -> str:
        """The caller as a log line names it: a key by its last four characters."""
        if caller is None:
            return "-"
        return f"key...{caller[-4:]}" if self.api_keys else guard.printable(caller[:64])

    async def detect(self, request: web.Request) -> web.Response:
        started, caller = time.perf_counter(), None
        try:
            caller = self.caller(request)
            self.admit(caller)
            response = await self.forward(request)
        except guard.Refused as refused:
            response = error_response(refused.status, refused.code, refused.message)
        except Throttled as throttled:
            response = error_response(
                429,
                "TooManyRequests",
                throttled.message,
                headers={"Retry-After": str(max(1, math.ceil(throttled.seconds)))},
            )
        logger.info(
            "POST %s %d",
            request.path,
            response.status,
            extra={
                "fields": {
                    "caller": self.shown(caller),
                    "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                    "bytes": request.content_length or 0,
                }
            },
        )
        return response

    async def forward(self, request: web.Request) -> web.Response:
        headers = {name: request.headers[name] for name in FORWARDED if name in request.headers}
        if not all(map(is_header_text, headers.values())):
            raise guard.Refused(
                400, "BadRequest", "Content-Type and Accept must be printable US-ASCII"
            )
        if "attributes" in request.query:
            attributes = request.query["attributes"]
            if not attributes_fit(attributes):
                raise guard.Refused(
                    400,
                    "InvalidParameter",
                    f"attributes must be printable US-ASCII, {MAX_CUSTOM_ATTRIBUTES} characters "
                    "at most",
                )
            headers[CUSTOM_ATTRIBUTES] = attributes
        path = "/invocations"
        if "model" in request.query:  # a multi-model endpoint's TargetModel
            target = request.query["model"]
            if not (target and is_header_text(target) and len(target) <= 1024):
                raise guard.Refused(400, "InvalidParameter", "model names one of the models")
            path, headers[TARGET_MODEL] = f"/models/{quote(target, safe='')}/invoke", target
        with self.budget.holding() as share:
            body = await guard.read_body(request, self.limits, share)
            try:
                answer = await self.upstream.post(path, body, headers, self.timeout_seconds)
            except TimeoutError:
                return error_response(504, "GatewayTimeout", "the model did not answer in time")
            except ClientError:
                return error_response(502, "BadGateway", "the model could not be reached")
        return web.Response(
            body=answer.body, status=answer.status, headers={"Content-Type": answer.media_type}
        )


class Throttled(Exception):
    def __init__(self, message: str, seconds: float) -> None:
        super().__init__(message)
        self.message, self.seconds = message, seconds
