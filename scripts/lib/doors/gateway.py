"""A local stand-in for SageMaker's signed front door (``runtime.sagemaker.REGION.amazonaws.com``).

It answers ``POST /endpoints/{name}/invocations`` as SageMaker's runtime does: the SigV4 signature
is checked first (403 with AWS's error shape otherwise, nothing forwarded), an unknown endpoint is
404, a body over 6 MB is 413, and the request goes to the container (``--upstream``) with its
Content-Type, Accept and Custom-Attributes. A container error or a container slower than 60 s
comes back as AWS's ModelError (424), so clients' error handling is exercised locally too.
Given where answers go (``--async-output``), it also answers ``POST
/endpoints/{name}/async-invocations``, InvokeEndpointAsync, with answers written to S3
(``async_invocations``).
"""

import asyncio
import configparser
import logging
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import ClientError, web

from container.door import guard, listening, logs
from container.door.upstream import Upstream
from container.record import VALID_INFERENCE_ID
from inference.headers import (
    CUSTOM_ATTRIBUTES,
    INFERENCE_ID,
    INVOKED_VARIANT,
    MAX_CUSTOM_ATTRIBUTES,
    TARGET_MODEL,
    TARGET_VARIANT,
    attributes_fit,
)
from scripts.lib.doors.async_invocations import DEFAULT_MAX_INPUT_BYTES, AsyncInvocations, Invalid
from scripts.lib.doors.sigv4_verifier import Credentials, SignatureError, authorize, verify
from scripts.lib.doors.target_models import TargetModelError, TargetModels
from scripts.lib.doors.traffic import Traffic, UnknownVariant
from scripts.lib.errors import CommandError

logger = logging.getLogger("sm-detect.gateway")

MAX_BODY_BYTES = 6 * 1024 * 1024
UPSTREAM_TIMEOUT_SECONDS = 60
FORWARDED = ("Content-Type", "Accept", CUSTOM_ATTRIBUTES, INFERENCE_ID)
# the runtime's error types for what the door refuses before the model sees anything
AWS_ERROR_TYPES = {
    400: "ValidationError",
    408: "RequestTimeout",
    413: "ValidationError",
    415: "ValidationError",
    503: "ServiceUnavailable",
}


Answering = Callable[[web.Request, bytes], Awaitable[web.Response]]


def aws_error(status: int, error_type: str, message: str, **fields: object) -> web.Response:
    """An error in the shape AWS's runtime answers with (what boto3 parses)."""
    return web.json_response(
        {"message": message, **fields}, status=status, headers={"x-amzn-ErrorType": error_type}
    )


def load_credentials(
    path: str | None = None, environ: Mapping[str, str] = os.environ
) -> dict[str, Credentials]:
    """Access key id -> Credentials, from an AWS credentials file (every profile) or the env."""
    found = {}
    if path:
        parser = configparser.ConfigParser()
        if not parser.read(path):
            raise CommandError(f"cannot read credentials file {path}")
        for section in parser.sections():
            entry = parser[section]
            if "aws_access_key_id" in entry and "aws_secret_access_key" in entry:
                found[entry["aws_access_key_id"]] = Credentials(
                    entry["aws_access_key_id"],
                    entry["aws_secret_access_key"],
                    entry.get("aws_session_token"),
                )
    elif environ.get("AWS_ACCESS_KEY_ID") and environ.get("AWS_SECRET_ACCESS_KEY"):
        found[environ["AWS_ACCESS_KEY_ID"]] = Credentials(
            environ["AWS_ACCESS_KEY_ID"],
            environ["AWS_SECRET_ACCESS_KEY"],
            environ.get("AWS_SESSION_TOKEN"),
        )
    if not found:
        raise CommandError(
            "the gateway has no credentials to check signatures against", remedy="credentials"
        )
    return found


def masked(access_key: str) -> str:
    return access_key[:4] + "..." + access_key[-4:] if len(access_key) > 8 else "..."


class Gateway:
    def __init__(
        self,
        endpoint: str,
        upstream: str | Traffic,
        region: str,
        credentials: Mapping[str, Credentials],
        timeout_seconds: float = UPSTREAM_TIMEOUT_SECONDS,
        max_body_bytes: int = MAX_BODY_BYTES,
        async_output: str | None = None,
        async_failure: str | None = None,
        async_max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES,
        target_models: TargetModels | None = None,
    ) -> None:
        self.endpoint = endpoint
        # ``upstream``: a server's URL, the endpoint's one variant; or ``Traffic``, several
        self.traffic = Traffic.single(upstream) if isinstance(upstream, str) else upstream
        self.upstream = self.traffic.variants[0].upstream
        # a multi-model endpoint: ``TargetModels`` loads each archive a request names
        self.target_models = target_models
        # InvokeEndpointAsync, when the twin is given where its answers go
        self.asynchronous = (
            AsyncInvocations(
                self.upstream,
                async_output,
                async_failure,
                region,
                max_input_bytes=async_max_input_bytes,
            )
            if async_output
            else None
        )
        self.region = region
        self.credentials = credentials
        self.timeout_seconds = timeout_seconds
        self.limits = guard.Limits(max_body_bytes=max_body_bytes)
        self.budget = guard.Budget(self.limits.buffered_bytes)

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/endpoints/{name}/invocations", self.invoke)
        if self.asynchronous:
            app.router.add_post("/endpoints/{name}/async-invocations", self.invoke_async)
            app.on_cleanup.insert(0, self.asynchronous.close)
        app.router.add_route("*", "/{tail:.*}", self.unknown_operation)
        self.traffic.attach(app)
        return app

    async def unknown_operation(self, request: web.Request) -> web.Response:
        self.log(request, 404, "rejected", "unknown operation")
        return aws_error(404, "UnknownOperationException", "Unknown operation")

    async def invoke(self, request: web.Request) -> web.Response:
        """InvokeEndpoint: the container's answer."""
        return await self.checked(request, self.forward)

    async def invoke_async(self, request: web.Request) -> web.Response:
        """InvokeEndpointAsync: 202 and where the answer will be; the work goes on after."""

        asynchronous = self.asynchronous
        assert asynchronous is not None  # the route exists only with --async-output

        async def queue(request: web.Request, body: bytes) -> web.Response:
            try:
                job = asynchronous.job(
                    request.headers, body, request.headers.get(CUSTOM_ATTRIBUTES, "")
                )
            except (Invalid, CommandError) as error:
                return aws_error(400, "ValidationError", str(error))
            asynchronous.queue(job)
            return web.json_response(
                {"InferenceId": job.inference_id},
                status=202,
                headers={
                    "X-Amzn-SageMaker-OutputLocation": job.output_location,
                    "X-Amzn-SageMaker-FailureLocation": job.failure_location,
                },
            )

        return await self.checked(request, queue)

    async def checked(self, request: web.Request, answer: Answering) -> web.Response:
        """``answer(request, body)`` for a signed request to this endpoint; AWS's errors else."""
        started = time.perf_counter()
        raw_path, _, raw_query = request.raw_path.partition("?")
        headers = list(request.headers.items())
        try:
            # who is asking is settled from the headers alone: a stranger's body is never read
            claim = authorize(headers, self.credentials, self.region)
        except SignatureError as error:
            self.log(request, 403, "rejected", error.code)
            return aws_error(403, error.code, error.message)
        attributes = request.headers.get(CUSTOM_ATTRIBUTES, "")
        if not attributes_fit(attributes):
            # before the signature: the runtime's rule, and no agreed encoding to sign beyond it
            self.log(request, 400, "rejected", "custom attributes")
            return aws_error(
                400,
                "ValidationError",
                f"CustomAttributes must be at most {MAX_CUSTOM_ATTRIBUTES} visible US-ASCII "
                "characters",
            )
        with self.budget.holding() as share:
            try:
                body = await guard.read_body(request, self.limits, share)
            except guard.Refused as refused:
                self.log(request, refused.status, "rejected", refused.code)
                return aws_error(refused.status, AWS_ERROR_TYPES[refused.status], refused.message)
            try:
                key = verify(
                    request.method,
                    raw_path,
                    raw_query,
                    headers,
                    body,
                    self.credentials,
                    self.region,
                    authorization=claim,
                )
            except SignatureError as error:
                self.log(request, 403, "rejected", error.code)
                return aws_error(403, error.code, error.message)
            name = request.match_info["name"]
            if name != self.endpoint:
                self.log(request, 404, "rejected", "unknown endpoint", key)
                return aws_error(404, "ValidationError", f"Endpoint {name} not found.")
            response = await answer(request, body)
        self.log(
            request,
            response.status,
            "forwarded",
            f"{(time.perf_counter() - started) * 1000:.0f} ms",
            key,
        )
        return response

    async def forward(self, request: web.Request, body: bytes) -> web.Response:
        headers = {name: request.headers[name] for name in FORWARDED if name in request.headers}
        if INFERENCE_ID in headers and not VALID_INFERENCE_ID.fullmatch(headers[INFERENCE_ID]):
            # the runtime's own check, before the container is asked
            return aws_error(
                400,
                "ValidationError",
                "1 validation error detected: Value at 'inferenceId' failed to satisfy "
                "constraint: Member must have length less than or equal to 64 and match "
                "pattern \\A\\S[\\p{Print}]*\\z",
            )
        try:
            variant = self.traffic.pick(request.headers.get(TARGET_VARIANT))
        except UnknownVariant as unknown:
            return aws_error(
                400,
                "ValidationError",
                f"Endpoint {self.endpoint} has no production variant {unknown} to target.",
            )
        try:
            path = await self.path_for(request.headers.get(TARGET_MODEL), variant.upstream)
        except TargetModelError as error:
            return aws_error(error.status, error.error_type, error.message)
        if path != "/invocations":
            headers[TARGET_MODEL] = request.headers[TARGET_MODEL]
        started = time.perf_counter()
        try:
            answer = await variant.upstream.post(path, body, headers, self.timeout_seconds)
        except TimeoutError:
            return model_error(
                0,
                "Your invocation timed out while waiting for a response from "
                f"container primary after {self.timeout_seconds} s.",
            )
        except ClientError as error:
            return model_error(0, f"Could not reach the container: {error}")
        if answer.status >= 400:
            return model_error(answer.status, answer.body.decode(errors="replace"))
        request_sent = (body, request.headers.get("Content-Type", "application/octet-stream"))
        latency = time.perf_counter() - started
        self.traffic.answered(variant, path, request_sent, headers, answer, latency)
        return web.Response(
            body=answer.body,
            status=answer.status,
            headers={"Content-Type": answer.media_type, INVOKED_VARIANT: variant.name},
        )

    async def path_for(self, target_model: str | None, upstream: Upstream) -> str:
        """Where the container answers: /invocations, or a multi-model endpoint's model."""
        if self.target_models is None:
            if target_model:
                raise TargetModelError(
                    400,
                    "ValidationError",
                    f"Endpoint {self.endpoint} is not a multi-model endpoint and does not support "
                    "target model header.",
                )
            return "/invocations"
        if not target_model:
            raise TargetModelError(
                400, "ValidationError", "Request is missing a target model header."
            )
        name = await self.target_models.ensure_loaded(upstream, target_model)
        return f"/models/{name}/invoke"

    def log(
        self, request: web.Request, status: int, outcome: str, detail: str, key: str | None = None
    ) -> None:
        # no bodies, no signatures, no secrets: the key id is shortened as well, and the path
        # is shown with its control characters escaped, so that it cannot forge a log line
        logger.info(
            "%s %s %d %s %s%s",
            guard.printable(request.method),
            guard.printable(request.path),
            status,
            outcome,
            detail,
            f" key={masked(key)}" if key else "",
        )


def model_error(original_status: int, original_message: str) -> web.Response:
    kind = "client" if 400 <= original_status < 500 else "server"
    return aws_error(
        424,
        "ModelError",
        f"Received {kind} error ({original_status}) from primary with message "
        f'"{original_message[:1000]}".',
        OriginalStatusCode=original_status,
        OriginalMessage=original_message[:1000],
        ErrorCode=f"{kind.capitalize()}Error",
    )


def serve(gateway: Gateway, host: str, port: int, cert: str, key: str) -> None:
    """Serve ``gateway`` over HTTPS until SIGTERM or SIGINT; port 0 picks a free port."""
    queued = f", async answers to {gateway.asynchronous.output}" if gateway.asynchronous else ""
    serve_https(
        gateway.application(),
        gateway.limits,
        aws_error,
        host,
        port,
        cert,
        key,
        lambda url: (
            f"{url}/endpoints/{gateway.endpoint}/invocations -> {gateway.traffic.describe()} "
            f"(region {gateway.region}, certificate {cert}{queued})"
        ),
    )


def serve_https(
    application: web.Application,
    limits: guard.Limits,
    error_response: guard.ErrorResponse,
    host: str,
    port: int,
    cert: str,
    key: str,
    describe: Callable[[str], str],
) -> None:
    """Serve ``application`` behind the guard over TLS; ``describe(url)`` for the log."""
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        tls.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        raise CommandError(
            f"cannot use the TLS certificate {cert} with key {key}: "
            f"{getattr(error, 'strerror', None) or error}"
        ) from None
    logs.configure()

    def announce(url: str) -> None:
        logger.info("%s: %s", listening.ANNOUNCEMENT.format(url=url), describe(url))

    try:
        asyncio.run(
            listening.serve_until_stopped(
                application, host, port, limits, error_response, tls, announce
            )
        )
    except OSError as error:
        raise CommandError(f"cannot listen on {host}:{port}: {error.strerror}") from None
