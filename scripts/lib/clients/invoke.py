"""Invoke: send an image (or several, as one batch) to a server (``--url``) or a SageMaker
endpoint, show what came back. An ``s3://`` source is sent as ``{"s3_uri": ...}``, for the
endpoint to read with its own role."""

import base64
import hashlib
import io
import json
import mimetypes
import os
import shlex
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import requests
from tqdm import tqdm

from inference import content_types
from inference.errors import parse_error
from inference.headers import CUSTOM_ATTRIBUTES, TARGET_MODEL, TARGET_VARIANT
from scripts.lib.cloud import aws, s3
from scripts.lib.errors import CommandError
from scripts.lib.progress import say

TIMEOUT_SECONDS = 120


Send = Callable[[bytes, str, str, str], bytes]  # (body, content type, accept, attributes) -> answer


def custom_attributes(**values: object) -> str:
    """``threshold=0.5,classes=dog;cat`` from the options that were given."""
    return ",".join(f"{key}={value}" for key, value in values.items() if value is not None)


def content_type_of(path: str) -> str:
    """``image/jpeg`` or ``image/png`` by the file's name; any other image is sent as SageMaker's
    ``application/x-image``, which every image server understands as "look at the bytes"."""
    media_type, _ = mimetypes.guess_type(path)
    return media_type if media_type in ("image/jpeg", "image/png") else "application/x-image"


def read_image(path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror}") from None


def post_url(
    url: str,
    body: bytes,
    content_type: str,
    accept: str,
    attributes: str,
    target_model: str | None = None,
) -> bytes:
    """POST to a server's /invocations (``sm-detect serve`` or the container), or to a
    multi-model server's ``target_model``."""
    headers = {"Content-Type": content_type, "Accept": accept}
    if attributes:
        headers[CUSTOM_ATTRIBUTES] = attributes
    path = "/invocations"
    if target_model:
        path = f"/models/{target_model}/invoke"
        headers[TARGET_MODEL] = target_model
    try:
        response = requests.post(
            url.rstrip("/") + path, data=body, headers=headers, timeout=TIMEOUT_SECONDS
        )
    except requests.RequestException as error:
        raise CommandError(f"could not reach {url}: {error}") from None
    if response.status_code >= 400:
        raise CommandError(f"{response.status_code} from {url}: {describe_error(response.text)}")
    return response.content


def post_endpoint(
    session: aws.Aws,
    endpoint: str,
    body: bytes,
    content_type: str,
    accept: str,
    attributes: str,
    target_model: str | None = None,
    target_variant: str | None = None,
) -> bytes:
    """A SigV4-signed InvokeEndpoint through boto3, credentials from the standard chain; says
    which production variant answered."""
    options = {"CustomAttributes": attributes} if attributes else {}
    if target_model:
        options["TargetModel"] = target_model
    if target_variant:
        options["TargetVariant"] = target_variant
    response = session.client(aws.RUNTIME).invoke_endpoint(
        EndpointName=endpoint, Body=body, ContentType=content_type, Accept=accept, **options
    )
    if response.get("InvokedProductionVariant"):
        say(f"answered by variant {response['InvokedProductionVariant']}")
    return response["Body"].read()


class AsyncEndpoint:
    """InvokeEndpointAsync: the image uploaded once, each answer waited for in S3.

    ``send`` has the same signature as ``post_url`` and ``post_endpoint``.
    """

    def __init__(
        self,
        session: aws.Aws,
        endpoint: str,
        input_prefix: str,
        timeout_seconds: float,
        name: str = "image",
        poll_seconds: float = 2.0,
    ) -> None:
        s3.parse_uri(input_prefix)
        self.name = os.path.basename(name)
        self.session = session
        self.endpoint = endpoint
        self.input_prefix = input_prefix if input_prefix.endswith("/") else input_prefix + "/"
        self.timeout_seconds = timeout_seconds
        self.poll_seconds = poll_seconds
        self.uploaded: dict[str, str] = {}  # the image's digest -> its s3:// address

    def upload(self, body: bytes) -> str:
        """The image's s3:// address, uploaded with a progress bar the first time."""
        digest = hashlib.sha256(body).hexdigest()
        if digest not in self.uploaded:
            uri = f"{self.input_prefix}{uuid.uuid4().hex}-{self.name}"
            bucket, key = s3.parse_uri(uri)
            with tqdm(
                total=len(body), unit="B", unit_scale=True, desc=f"uploading to {uri}"
            ) as bar:
                self.session.client("s3").upload_fileobj(
                    io.BytesIO(body), bucket, key, Callback=bar.update
                )
            self.uploaded[digest] = uri
        return self.uploaded[digest]

    def send(self, body: bytes, content_type: str, accept: str, attributes: str) -> bytes:
        options = {"CustomAttributes": attributes} if attributes else {}
        queued = self.session.client(aws.RUNTIME).invoke_endpoint_async(
            EndpointName=self.endpoint,
            InputLocation=self.upload(body),
            ContentType=content_type,
            Accept=accept,
            **options,
        )
        say(f"queued as {queued['InferenceId']}; the answer goes to {queued['OutputLocation']}")
        return self.wait(queued["OutputLocation"], queued.get("FailureLocation"))

    def wait(self, output: str, failure: str | None) -> bytes:
        """The answer's bytes once it is in S3; the failure's message as a CommandError."""
        started = time.monotonic()
        with tqdm(desc="waiting for the answer", unit="s", bar_format="{desc}: {elapsed}") as bar:
            while True:
                for location, failed in ((output, False), (failure, True)):
                    found = self.read(location) if location else None
                    if found is not None:
                        if failed:
                            raise CommandError(
                                f"the endpoint could not answer ({location}): "
                                f"{describe_error(found.decode(errors='replace'))}"
                            )
                        return found
                if time.monotonic() - started > self.timeout_seconds:
                    raise CommandError(
                        f"no answer in {output} after {self.timeout_seconds:.0f} s; it may "
                        "still come (the request stays queued)"
                    )
                time.sleep(self.poll_seconds)
                bar.update(self.poll_seconds)

    def read(self, uri: str) -> bytes | None:
        """The object's bytes, or None while it is not there."""
        bucket, key = s3.parse_uri(uri)
        found = aws.get_or_none(self.session.client("s3").get_object, Bucket=bucket, Key=key)
        return found["Body"].read() if found else None


def server_url(text: str) -> str:
    """A server's address as given, ``http://`` assumed when no scheme is (as curl does)."""
    return text if "://" in text else f"http://{text}"


def curl_command(
    image_path: str,
    attributes: str,
    url: str,
    signing_region: str | None = None,
    ca_bundle: str | None = None,
    target_model: str | None = None,
    target_variant: str | None = None,
) -> str:
    """The same request as a curl command; signed by curl's own SigV4 code for an endpoint
    (``signing_region``), keys read from the environment when it runs, never printed."""
    parts = ["curl --fail-with-body -sS"]
    if signing_region:
        parts += [
            f"--aws-sigv4 'aws:amz:{signing_region}:sagemaker'",
            '--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"',
        ]
        if os.environ.get("AWS_SESSION_TOKEN"):
            parts.append('-H "x-amz-security-token: $AWS_SESSION_TOKEN"')
    if ca_bundle:
        parts.append(f"--cacert {shlex.quote(ca_bundle)}")
    parts += [f"-H 'Content-Type: {content_type_of(image_path)}'", "-H 'Accept: application/json'"]
    if attributes:
        parts.append("-H " + shlex.quote(f"{CUSTOM_ATTRIBUTES}: {attributes}"))
    if target_model:
        parts.append("-H " + shlex.quote(f"{TARGET_MODEL}: {target_model}"))
    if target_variant:
        parts.append("-H " + shlex.quote(f"{TARGET_VARIANT}: {target_variant}"))
    parts += [f"--data-binary @{shlex.quote(image_path)}", shlex.quote(url)]
    return " \\\n  ".join(parts)


def describe_error(text: str) -> str:
    parsed = parse_error(text)
    return f"{parsed[0]}: {parsed[1]}" if parsed else text[:500]


def report(response: dict[str, Any], raw: bool = False, digits: int = 1) -> None:
    if raw:
        print(json.dumps(response, indent=2))
        return
    image = response["image"]
    detections = response["detections"]
    precision = f" ({response['precision']})" if response.get("precision") else ""
    print(
        f"{response['model']}{precision}: {len(detections)} detection(s) in "
        f"{image['width']}x{image['height']}"
    )
    if detections:
        print(f"{'label':<16}{'score':>7}  {'xmin':>8}{'ymin':>8}{'xmax':>8}{'ymax':>8}")
    for detection in detections:
        box = detection["box"]
        numbers = (box["xmin"], box["ymin"], box["xmax"], box["ymax"])
        print(
            f"{detection['label']:<16}{detection['score']:>7.3f}  "
            + "".join(f"{value:>8.{digits}f}" for value in numbers)
        )


def report_batch(
    sources: Sequence[str], response: dict[str, Any], raw: bool = False, digits: int = 1
) -> None:
    """Each source's answer under its name, or the error that image met."""
    if raw:
        print(json.dumps(response, indent=2))
        return
    for source, result in zip(sources, response["results"], strict=True):
        print(f"== {source}")
        if "error" in result:
            print(f"error: {result['error']['code']}: {result['error']['message']}")
        else:
            report(result, digits=digits)


def is_s3(source: str) -> bool:
    return source.startswith("s3://")


def entry(source: str) -> dict[str, str]:
    """A batch entry for a file (inline, base64) or an s3:// object (read by the endpoint)."""
    if is_s3(source):
        return {"s3_uri": source}
    return {"image": base64.b64encode(read_image(source)).decode("ascii")}


def request_body(sources: Sequence[str], batch: bool = False) -> tuple[bytes, str]:
    """(body, content type) of a request for ``sources``: one image, or a batch of them."""
    if batch:
        return json.dumps({"images": [entry(source) for source in sources]}).encode(), (
            content_types.JSON
        )
    (source,) = sources
    if is_s3(source):
        return json.dumps(entry(source)).encode(), content_types.JSON
    return read_image(source), content_type_of(source)


def invoke(
    send: Send,
    sources: Sequence[str],
    attributes: str,
    draw: str | None = None,
    raw: bool = False,
    batch: bool = False,
    coco: bool = False,
    normalized: bool = False,
) -> None:
    """``send(body, content_type, accept, attributes) -> bytes`` does the transport; ``sources``
    are image files or s3:// objects, one unless ``batch``; ``coco`` prints COCO results;
    ``normalized``: the attributes ask for boxes as fractions, printed to four decimals."""
    digits = 4 if normalized else 1
    if len(sources) > 1 and not batch:
        raise CommandError("several images go in one request with --batch")
    if draw and (batch or any(map(is_s3, sources))):
        raise CommandError("--draw takes one image file (a batch is answered in JSON)")
    body, content_type = request_body(sources, batch)
    if draw and not os.path.isdir(os.path.dirname(os.path.abspath(draw))):
        raise CommandError(f"cannot write {draw}: its folder does not exist")
    if coco:
        print(json.dumps(json.loads(send(body, content_type, content_types.COCO, attributes))))
        return
    response = json.loads(send(body, content_type, content_types.JSON, attributes))
    if batch:
        report_batch(sources, response, raw=raw, digits=digits)
    else:
        report(response, raw=raw, digits=digits)
    if draw:
        accept = "image/png" if draw.lower().endswith(".png") else "image/jpeg"
        drawn = send(body, content_type, accept, attributes)
        try:
            with open(draw, "wb") as file:
                file.write(drawn)
        except OSError as error:
            raise CommandError(f"cannot write {draw}: {error.strerror}") from None
        say(f"wrote {draw}")
