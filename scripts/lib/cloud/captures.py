"""Data capture read back: SageMaker's capture files in S3 (or the local twin's, in a folder)
become a folder of images and answers.

An endpoint deployed with ``--data-capture s3://BUCKET/PREFIX`` has SageMaker write JSON Lines
files under ``PREFIX/ENDPOINT/VARIANT/yyyy/mm/dd/hh/``; each line is one request and its answer
(``captureData.endpointInput`` and ``endpointOutput``, each with its ``observedContentType``, its
``encoding`` (BASE64, JSON or CSV) and its ``data``) with ``eventMetadata`` (``eventId``,
``inferenceTime``). Each captured image is written as ``EVENT_ID.EXT`` (NPY and JSON requests
are turned into PNG and the file they carry), its JSON answer as ``EVENT_ID.json``: a folder that
``sm-detect package --precision int8 --calibration`` reads as it is.
"""

import base64
import collections
import contextlib
import datetime
import functools
import hashlib
import io
import json
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from scripts.lib.cloud import s3
from scripts.lib.cloud.aws import Aws
from scripts.lib.progress import say

EXTENSIONS = {
    "JPEG": "jpg",
    "PNG": "png",
    "GIF": "gif",
    "BMP": "bmp",
    "TIFF": "tif",
    "WEBP": "webp",
}
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
MAX_EVENT_ID = 200  # SageMaker's are UUIDs, or the caller's inference id (at most 64)
# one event holds a request of at most 6 MB (8 as base64) and its answer
MAX_LINE_BYTES = 32 << 20
MAX_FILE_BYTES = 1 << 30


Event = dict[str, Any]  # one line of a capture file


def parse_time(text: str) -> datetime.datetime:
    """``2026-12-01`` or ``2026-12-01T10:00[:00][Z]`` -> an aware UTC datetime."""
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))  # ValueError if not
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


class BadEvent(Exception):
    """A captured event that cannot be exported; ``str()`` is why, counted once per reason."""


def payload(capture: dict[str, Any]) -> bytes:
    """The bytes of a captured request or answer, whatever their encoding."""
    data = capture.get("data", "")
    if not isinstance(data, str):
        raise BadEvent("data that is not a string")
    if str(capture.get("encoding", "")).upper() == "BASE64":
        try:
            return base64.b64decode(data, validate=True)
        except ValueError:
            raise BadEvent("data that is not valid base64") from None
    return data.encode("utf-8")


def image_file(body: bytes, content_type: str) -> tuple[bytes, str]:
    """(bytes, extension) of the image in a captured request, checked by the server's decoder.

    NPY and JSON requests become the PNG and the image file they carry; anything the decoder
    refuses (not an image, a decompression bomb, a crafted file) is a ``BadEvent``.
    """
    from PIL import Image

    from inference import content_types, decode
    from inference.errors import RequestError

    media_type = content_types.base(content_type)
    if media_type == content_types.JSON:
        try:
            body = base64.b64decode(json.loads(body)["image"], validate=True)
        except (ValueError, KeyError, TypeError):
            raise BadEvent("JSON requests that hold no base64 image") from None
    try:
        if media_type == content_types.NPY:
            png = io.BytesIO()
            Image.fromarray(decode.decode_npy(body)).save(png, format="PNG")
            return png.getvalue(), "png"
        decode.decode_image(body)
    except RequestError as error:
        raise BadEvent(f"requests the decoder refuses ({error.code})") from None
    with Image.open(io.BytesIO(body)) as image:
        image_format = image.format or ""
    return body, EXTENSIONS.get(image_format, image_format.lower())


def capture_files(aws: Aws, location: str) -> list[tuple[str, Callable[[], IO[bytes]]]]:
    """[(path, open)]: each JSON Lines capture file under ``location``, an s3:// prefix or a
    folder (where the local twin writes them), by path; ``open()`` gives a binary stream of it,
    or raises ``BadEvent`` for what is not read: a link, a device, a file over the size bound."""
    if location.startswith("s3://"):
        bucket, prefix = s3.parse_uri(location)
        client = aws.client("s3")
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        keys = sorted(
            item["Key"]
            for page in pages
            for item in page.get("Contents", [])
            if item["Key"].endswith(".jsonl")
        )
        return [(key, functools.partial(s3_object, client, bucket, key)) for key in keys]
    paths = sorted(
        os.path.join(folder, name)
        for folder, _, names in os.walk(location)
        for name in names
        if name.endswith(".jsonl")
    )
    return [(path, functools.partial(regular_file, path)) for path in paths]


def s3_object(client: Any, bucket: str, key: str) -> IO[bytes]:
    found = client.get_object(Bucket=bucket, Key=key)
    if found.get("ContentLength", 0) > MAX_FILE_BYTES:
        raise BadEvent(f"capture files over {MAX_FILE_BYTES >> 20} MiB")
    body: IO[bytes] = found["Body"]  # botocore's StreamingBody reads as a binary file does
    return body


def regular_file(path: str) -> IO[bytes]:
    """``path`` opened for reading if it is a regular file within the size bound, never a link
    followed (to /dev/zero, say) nor a device or pipe waited on."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        raise BadEvent("capture files that are links or cannot be opened") from None
    facts = os.fstat(descriptor)
    if not stat.S_ISREG(facts.st_mode):
        os.close(descriptor)
        raise BadEvent("capture files that are not regular files")
    if facts.st_size > MAX_FILE_BYTES:
        os.close(descriptor)
        raise BadEvent(f"capture files over {MAX_FILE_BYTES >> 20} MiB")
    return os.fdopen(descriptor, "rb")


def bounded_lines(stream: IO[bytes], chunk_bytes: int = 1 << 20) -> Iterator[bytes | BadEvent]:
    """The lines of a binary ``stream``, each at most ``MAX_LINE_BYTES``; a longer one is read
    past and given as a ``BadEvent``, so that no line is ever held whole beyond the bound."""
    too_long = BadEvent(f"lines over {MAX_LINE_BYTES >> 20} MiB")
    pending, skipping = b"", False
    while chunk := stream.read(chunk_bytes):
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if skipping:  # the end of a line already reported
                skipping = False
            elif len(line) > MAX_LINE_BYTES:
                yield too_long
            else:
                yield line
        if len(pending) > MAX_LINE_BYTES:
            if not skipping:
                yield too_long
            pending, skipping = b"", True
    if pending and not skipping:
        yield pending


def variant_of(path: str) -> str | None:
    """The variant a capture file belongs to: the folder before ``yyyy/mm/dd/hh/``."""
    parts = path.split("/")
    hour_folders = parts[-5:-1]
    if len(parts) >= 6 and all(part.isdigit() for part in hour_folders):
        return parts[-6]
    return None


def events(aws: Aws, location: str, variant: str | None = None) -> Iterator[Event | BadEvent]:
    """Each captured event under ``location`` (of ``variant``'s files only, if given): a dict,
    or a ``BadEvent``."""
    for path, opened in capture_files(aws, location):
        if variant and variant_of(path) != variant:
            continue
        try:
            stream = opened()
        except BadEvent as bad:
            yield bad
            continue
        with contextlib.closing(stream):
            yield from parsed(bounded_lines(stream))


def parsed(lines: Iterable[bytes | BadEvent]) -> Iterator[Event | BadEvent]:
    """Each line of a capture file as an event (a dict), or a ``BadEvent``."""
    for line in lines:
        if isinstance(line, BadEvent):
            yield line
            continue
        if not line.strip():
            continue
        try:
            event = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            yield BadEvent("lines that are not UTF-8")
            continue
        except (ValueError, RecursionError):
            yield BadEvent("lines that are not JSON")
            continue
        yield event if isinstance(event, dict) else BadEvent("lines that are not JSON objects")


def event_name(metadata: dict[str, Any], number: int, taken: set[str]) -> str:
    """A file name for the event, unique in this export: its id made safe for a file name, with
    a digest of the id when making it safe changed it (``a/b`` and ``a_b`` stay apart)."""
    event_id = metadata.get("eventId")
    if event_id is None:
        return f"event-{number}"
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= MAX_EVENT_ID:
        raise BadEvent(f"event ids that are not strings of 1 to {MAX_EVENT_ID} characters")
    name = SAFE_NAME.sub("_", event_id)
    if name != event_id or name in taken:
        name = f"{name}-{hashlib.sha256(event_id.encode()).hexdigest()[:8]}"
    if name in taken:
        raise BadEvent("events whose id came twice")
    taken.add(name)
    return name


def captured_request(
    event: Event, since: datetime.datetime | None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None] | None:
    """(metadata, request capture, answer capture) of an event to export; None when too old."""
    metadata, captured = event.get("eventMetadata"), event.get("captureData")
    if not isinstance(metadata, dict) or not isinstance(captured, dict):
        raise BadEvent("events without eventMetadata and captureData objects")
    when = metadata.get("inferenceTime")
    if since:
        try:
            if not when or parse_time(str(when)) < since:
                return None
        except ValueError:
            raise BadEvent("events whose inferenceTime is not a time") from None
    request, answer = captured.get("endpointInput"), captured.get("endpointOutput")
    if not isinstance(request, dict) or not isinstance(request.get("observedContentType"), str):
        raise BadEvent("events without a request and its content type")
    return metadata, request, answer if isinstance(answer, dict) else None


def export(
    aws: Aws, location: str, output: str, since: datetime.datetime | None = None
) -> tuple[int, int]:
    """Write the captured images and their answers under ``output``; returns (images, answers).

    An event that cannot be exported is skipped and counted, by reason; the others are kept.
    """
    os.makedirs(output, exist_ok=True)
    images = answers = 0
    skipped: collections.Counter[str] = collections.Counter()
    taken: set[str] = set()
    for number, event in enumerate(events(aws, location)):
        try:
            if isinstance(event, BadEvent):
                raise event
            found = captured_request(event, since)
            if found is None:
                continue
            metadata, request, answer = found
            body, extension = image_file(payload(request), request["observedContentType"])
            name = event_name(metadata, number, taken)
            answer_body = (
                payload(answer)
                if answer and "json" in str(answer.get("observedContentType", ""))
                else None
            )
        except BadEvent as bad:
            skipped[str(bad)] += 1
            continue
        with open(os.path.join(output, f"{name}.{extension}"), "wb") as file:
            file.write(body)
        images += 1
        if answer_body is not None:
            with open(os.path.join(output, f"{name}.json"), "wb") as file:
                file.write(answer_body)
            answers += 1
    for reason, count in sorted(skipped.items()):
        say(f"skipped {count} captured event(s): {reason}")
    say(f"wrote {images} image(s) and {answers} answer(s) to {output}")
    return images, answers
