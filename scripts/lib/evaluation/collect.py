"""Every photo through the endpoint or server, a few at once, asking for every detection as COCO
evaluation expects (threshold 0, up to 100 an image), answered as COCO results."""

import concurrent.futures
import json
from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from inference import content_types
from scripts.lib.clients import invoke
from scripts.lib.errors import CommandError
from scripts.lib.evaluation.annotations import Photo

MAX_DETECTIONS = 100  # COCO's evaluation reads at most 100 detections an image
CONCURRENCY = 4


def attributes(image_id: int) -> str:
    return invoke.custom_attributes(threshold=0, max_detections=MAX_DETECTIONS, image_id=image_id)


def detect(send: invoke.Send, photo: Photo) -> list[dict[str, Any]]:
    """One photo's COCO results; ``send`` is a client's transport (``invoke.post_url``, ...)."""
    body, content_type = invoke.request_body([photo.path])
    answer = send(body, content_type, content_types.COCO, attributes(photo.image_id))
    results = json.loads(answer)
    if not isinstance(results, list):
        raise CommandError(f"the answer for {photo.path} is not a COCO results list")
    return results


def collect(
    send: invoke.Send, photos: Sequence[Photo], concurrency: int = CONCURRENCY
) -> list[dict[str, Any]]:
    """Every photo's COCO results, in the photos' order, with a progress bar."""
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        answers = pool.map(lambda photo: detect(send, photo), photos)
        results = []
        for found in tqdm(answers, total=len(photos), desc="photos", unit="photo"):
            results += found
    return results
