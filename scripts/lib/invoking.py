"""Invoke: POST an image to /invocations and show what came back."""

import json
import mimetypes

import requests

from scripts.lib.errors import CommandError
from scripts.lib.progress import say

TIMEOUT_SECONDS = 120


def custom_attributes(**values):
    """``threshold=0.5,classes=dog;cat`` from the options that were given."""
    return ",".join(f"{key}={value}" for key, value in values.items() if value is not None)


def content_type_of(path):
    media_type, _ = mimetypes.guess_type(path)
    return media_type if media_type and media_type.startswith("image/") else "application/x-image"


def post(url, image_path, attributes, accept):
    try:
        with open(image_path, "rb") as file:
            body = file.read()
    except OSError as error:
        raise CommandError(f"cannot read {image_path}: {error.strerror}") from None
    headers = {"Content-Type": content_type_of(image_path), "Accept": accept}
    if attributes:
        headers["X-Amzn-SageMaker-Custom-Attributes"] = attributes
    try:
        response = requests.post(
            url.rstrip("/") + "/invocations", data=body, headers=headers, timeout=TIMEOUT_SECONDS
        )
    except requests.RequestException as error:
        raise CommandError(f"could not reach {url}: {error}") from None
    if response.status_code >= 400:
        raise CommandError(f"{response.status_code} from {url}: {describe_error(response)}")
    return response


def describe_error(response):
    try:
        error = response.json()["error"]
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return response.text[:500]


def invoke_url(url, image_path, attributes=""):
    return post(url, image_path, attributes, "application/json").json()


def save_drawing(url, image_path, attributes, output):
    accept = "image/png" if output.lower().endswith(".png") else "image/jpeg"
    with open(output, "wb") as file:
        file.write(post(url, image_path, attributes, accept).content)
    say(f"wrote {output}")


def report(response, raw=False):
    if raw:
        print(json.dumps(response, indent=2))
        return
    image = response["image"]
    detections = response["detections"]
    print(
        f"{response['model']}: {len(detections)} detection(s) in {image['width']}x{image['height']}"
    )
    if detections:
        print(f"{'label':<16}{'score':>7}  {'xmin':>8}{'ymin':>8}{'xmax':>8}{'ymax':>8}")
    for detection in detections:
        box = detection["box"]
        print(
            f"{detection['label']:<16}{detection['score']:>7.3f}  "
            f"{box['xmin']:>8.1f}{box['ymin']:>8.1f}{box['xmax']:>8.1f}{box['ymax']:>8.1f}"
        )
