"""Data capture read back: SageMaker's capture files in S3 become a folder of images and answers.

An endpoint deployed with ``--data-capture s3://BUCKET/PREFIX`` has SageMaker write JSON Lines
files under ``PREFIX/ENDPOINT/VARIANT/yyyy/mm/dd/hh/``; each line is one request and its answer
(``captureData.endpointInput`` and ``endpointOutput``, each with its ``observedContentType``, its
``encoding`` (BASE64, JSON or CSV) and its ``data``) with ``eventMetadata`` (``eventId``,
``inferenceTime``). Each captured image is written as ``EVENT_ID.EXT`` (NPY and JSON requests
are turned into PNG and the file they carry), its JSON answer as ``EVENT_ID.json``: a folder that
``sm-detect package --precision int8 --calibration`` reads as it is.
"""

import base64
import datetime
import io
import json
import os
import re

from scripts.lib import s3
from scripts.lib.errors import CommandError
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


def parse_time(text):
    """``2026-12-01`` or ``2026-12-01T10:00[:00][Z]`` -> an aware UTC datetime."""
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(
            f"--since takes a date or a time like 2026-12-01T10:00, got {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def payload(capture):
    """The bytes of a captured request or answer, whatever their encoding."""
    data = capture.get("data", "")
    if capture.get("encoding", "").upper() == "BASE64":
        return base64.b64decode(data)
    return data.encode("utf-8")


def image_file(body, content_type):
    """(bytes, extension) of the image in a captured request; None when it holds none."""
    from PIL import Image, UnidentifiedImageError

    from inference import content_types, decode
    from inference.errors import RequestError

    media_type = content_types.base(content_type)
    if media_type == content_types.JSON:
        try:
            body = base64.b64decode(json.loads(body)["image"], validate=True)
        except (ValueError, KeyError, TypeError):
            return None
    elif media_type == content_types.NPY:
        try:
            array = decode.decode_npy(body)
        except RequestError:
            return None
        png = io.BytesIO()
        Image.fromarray(array).save(png, format="PNG")
        return png.getvalue(), "png"
    try:
        with Image.open(io.BytesIO(body)) as image:
            image_format = image.format
    except (UnidentifiedImageError, OSError):
        return None
    return body, EXTENSIONS.get(image_format, image_format.lower())


def capture_files(aws, location):
    """The keys of the JSON Lines capture files under ``location``, oldest path first."""
    bucket, prefix = s3.parse_uri(location)
    pages = aws.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    return bucket, sorted(key for key in keys if key.endswith(".jsonl"))


def events(aws, location):
    """Each captured event (a dict) in the capture files under ``location``."""
    bucket, keys = capture_files(aws, location)
    for key in keys:
        text = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        for line in text.splitlines():
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError:
                    say(f"skipped a line of s3://{bucket}/{key} that is not JSON")


def export(aws, location, output, since=None):
    """Write the captured images and their answers under ``output``; returns (images, answers)."""
    os.makedirs(output, exist_ok=True)
    images = answers = skipped = 0
    for event in events(aws, location):
        metadata = event.get("eventMetadata", {})
        captured = event.get("captureData", {})
        when = metadata.get("inferenceTime")
        if since and (not when or parse_time(when) < since):
            continue
        name = SAFE_NAME.sub("_", metadata.get("eventId") or f"event-{images + skipped}")
        request = captured.get("endpointInput")
        found = request and image_file(payload(request), request.get("observedContentType"))
        if not found:
            skipped += 1
            continue
        body, extension = found
        with open(os.path.join(output, f"{name}.{extension}"), "wb") as file:
            file.write(body)
        images += 1
        answer = captured.get("endpointOutput")
        if answer and "json" in answer.get("observedContentType", ""):
            with open(os.path.join(output, f"{name}.json"), "wb") as file:
                file.write(payload(answer))
            answers += 1
    if skipped:
        say(f"skipped {skipped} captured request(s) that hold no image")
    say(f"wrote {images} image(s) and {answers} answer(s) to {output}")
    return images, answers
