"""InvokeEndpointAsync on the local runtime twin: queued at once, answered into S3 later.

As SageMaker's runtime does, the twin answers 202 with the request's inference id and where the
answer (``OutputLocation``) or the error (``FailureLocation``) will be written, then reads the
image (``InputLocation`` in S3, or an inline body of at most 128,000 bytes), calls the container,
and writes the container's answer, or its error, to S3. S3 is reached through boto3's standard
chain, so ``AWS_ENDPOINT_URL`` points it at a stand-in such as moto.

An input object is only read when the container could take it: SageMaker passes objects up to
1 GB, but the container refuses anything over its payload limit (``SAGEMAKER_MAX_PAYLOAD_IN_MB``,
6 MB unless set), so the twin checks the object's size first (``max_input_bytes``) and writes the
container's 413 to the failure location without reading it; what it reads, it reads in chunks,
never past that size whatever S3 said.
"""

import asyncio
import contextlib
import dataclasses
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

import boto3
import botocore.exceptions
from aiohttp import ClientError, web

from container.door.upstream import Upstream
from container.record import VALID_INFERENCE_ID
from inference.errors import PayloadTooLarge
from scripts.lib.cloud import s3

logger = logging.getLogger("sm-detect.gateway")

PREFIX = "X-Amzn-SageMaker-"
INLINE_MAX_BYTES = 128_000  # SageMaker's limit for an inline asynchronous body
DEFAULT_MAX_INPUT_BYTES = 6 << 20  # the container's own payload limit, unless it is raised
READ_CHUNK_BYTES = 1 << 20
S3_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
DEFAULT_TIMEOUT_SECONDS = 900  # InvocationTimeoutSeconds' default
MAX_TIMEOUT_SECONDS = 3600


class Invalid(Exception):
    """A request the runtime refuses with a ValidationError."""


@dataclasses.dataclass(frozen=True)
class Job:
    inference_id: str
    input_location: str | None
    body: bytes
    headers: dict[str, str]  # for the container: Content-Type, Accept, Custom-Attributes, Id
    output_location: str
    failure_location: str
    timeout_seconds: float


def join(prefix: str, *parts: str | None) -> str:
    return "/".join([prefix.rstrip("/"), *(part.strip("/") for part in parts if part)])


class AsyncInvocations:
    """The queue of one twin: ``output`` (and ``failure``) s3:// prefixes, ``upstream``."""

    def __init__(
        self,
        upstream: Upstream,
        output: str,
        failure: str | None = None,
        region: str | None = None,
        max_concurrency: int = 4,
        max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES,
    ) -> None:
        s3.parse_uri(output)
        if failure:
            s3.parse_uri(failure)
        self.upstream = upstream
        self.max_input_bytes = max_input_bytes
        self.output = output
        self.failure = failure or output
        self.region = region
        self.slots = asyncio.Semaphore(max_concurrency)
        self.pending: set[asyncio.Future[None]] = set()
        self._s3: Any = None

    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = boto3.client("s3", region_name=self.region)
        return self._s3

    def job(self, headers: Mapping[str, str], body: bytes, custom_attributes: str) -> Job:
        """The queued request from InvokeEndpointAsync's headers; ``Invalid`` otherwise."""
        input_location = headers.get(PREFIX + "InputLocation")
        if bool(input_location) == bool(body):
            raise Invalid("Provide exactly one of InputLocation and Body.")
        if input_location:
            s3.parse_uri(input_location)
        if len(body) > INLINE_MAX_BYTES:
            raise Invalid(f"An inline Body may have at most {INLINE_MAX_BYTES} bytes.")
        inference_id = headers.get(PREFIX + "Inference-Id") or uuid.uuid4().hex
        if not VALID_INFERENCE_ID.fullmatch(inference_id):
            raise Invalid("InferenceId must be 1 to 64 printable characters.")
        asked = headers.get(PREFIX + "InvocationTimeoutSeconds") or DEFAULT_TIMEOUT_SECONDS
        try:
            timeout = int(asked)
        except ValueError:
            timeout = 0
        if not 1 <= timeout <= MAX_TIMEOUT_SECONDS:
            raise Invalid(f"InvocationTimeoutSeconds must be from 1 to {MAX_TIMEOUT_SECONDS}.")
        extension = headers.get(PREFIX + "S3OutputPathExtension")
        filename = headers.get(PREFIX + "Filename") or f"{inference_id}.out"
        forwarded = {
            "Content-Type": headers.get(PREFIX + "Content-Type", "application/x-image"),
            "Accept": headers.get(PREFIX + "Accept", "application/json"),
            PREFIX + "Inference-Id": inference_id,
        }
        if custom_attributes:
            forwarded[PREFIX + "Custom-Attributes"] = custom_attributes
        return Job(
            inference_id=inference_id,
            input_location=input_location,
            body=body,
            headers=forwarded,
            output_location=join(self.output, extension, filename),
            failure_location=join(self.failure, extension, f"{inference_id}-error.out"),
            timeout_seconds=timeout,
        )

    def queue(self, job: Job) -> None:
        """Start ``job`` in the background; it ends in an object at one of its locations."""
        task = asyncio.ensure_future(self.answer(job))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def answer(self, job: Job) -> None:
        async with self.slots:
            try:
                body = job.body or await asyncio.to_thread(
                    self.read_input, job.input_location or ""
                )
                answer = await self.upstream.post(
                    "/invocations", body, job.headers, job.timeout_seconds
                )
            except InputTooLarge as error:
                document = json.dumps(PayloadTooLarge(str(error)).to_dict()).encode()
                await self.write(job, job.failure_location, document, "application/json", 413)
                return
            except (TimeoutError, ClientError, InputError) as error:
                message = str(error) or "the container did not answer in time"
                await self.write(job, job.failure_location, message.encode(), "text/plain", 0)
                return
            if answer.status >= 400:
                await self.write(
                    job, job.failure_location, answer.body, answer.media_type, answer.status
                )
            else:
                await self.write(
                    job, job.output_location, answer.body, answer.media_type, answer.status
                )

    def read_input(self, location: str) -> bytes:
        """The object's bytes, sized before a byte is read, and read at most to the limit."""
        bucket, key = s3.parse_uri(location)
        try:
            size = self.s3().head_object(Bucket=bucket, Key=key)["ContentLength"]
            if size > self.max_input_bytes:
                raise self.too_large(location, size)
            found = self.s3().get_object(Bucket=bucket, Key=key)
            chunks, read = [], 0
            while chunk := found["Body"].read(READ_CHUNK_BYTES):
                read += len(chunk)
                if read > self.max_input_bytes:
                    found["Body"].close()
                    raise self.too_large(location, f"more than {self.max_input_bytes}")
                chunks.append(chunk)
        except S3_ERRORS as error:
            raise InputError(f"could not read {location}: {error}") from None
        return b"".join(chunks)

    def too_large(self, location: str, size: int | str) -> "InputTooLarge":
        return InputTooLarge(
            f"the input {location} has {size} bytes, more than the container's payload limit "
            f"of {self.max_input_bytes}"
        )

    async def write(
        self, job: Job, location: str, body: bytes, media_type: str, status: int
    ) -> None:
        bucket, key = s3.parse_uri(location)
        try:
            await asyncio.to_thread(
                self.s3().put_object, Bucket=bucket, Key=key, Body=body, ContentType=media_type
            )
        except S3_ERRORS as error:
            logger.error("async %s: could not write %s: %s", job.inference_id, location, error)
            return
        outcome = "answered" if location == job.output_location else "failed"
        logger.info("async %s %s (%s) -> %s", job.inference_id, outcome, status, location)

    async def close(self, _app: web.Application | None = None) -> None:
        """Let the queued requests finish (the twin is stopping)."""
        for task in list(self.pending):
            with contextlib.suppress(asyncio.CancelledError):
                await task


class InputError(Exception):
    """The input object cannot be read."""


class InputTooLarge(Exception):
    """The input object is larger than the container takes."""
