"""The model server's handler: one function, ``handle``, that MMS calls with each batch.

A function entry point rather than a handler class on purpose: MMS logs and swallows an exception
raised by a class's ``initialize`` and marks the worker ready anyway, whereas an exception from a
function's first call fails the worker, so "worker READY" really means "model loaded".

Each answer carries what the front door logs and publishes: the time spent decoding, in the
forward pass (preprocessing included) and encoding (postprocessing included) as a standard
``Server-Timing`` header, and the number of detections, pixels and canvases
(``record.IMAGE_FACTS``; a batch's summed over the images it read).
The worker's records go to the front door's log (``container.model_server_log``); its line per
request is a debug line, shown with ``SM_DETECT_LOG_LEVEL=DEBUG``.
"""

import json
import logging
import os
import time
import traceback
from typing import Any

from sagemaker_inference import environment

from container import model_server_log, readiness, record
from container.settings import LOG_LEVEL
from inference import encode, handler
from inference.errors import RequestError, error_document
from inference.headers import CUSTOM_ATTRIBUTES, INFERENCE_ID
from inference.model import Detector

logger = logging.getLogger("sm-detect.worker")
DEFAULT_ACCEPT = environment.Environment().default_accept
_detector: Detector | None = None


def handle(data: list[dict] | None, context: Any) -> list[bytes] | None:
    """Initialise on MMS's first call (``data is None``), then answer each request in ``data``."""
    global _detector
    if data is None:
        configure_logging()
        _detector = handler.model_fn(context.system_properties.get("model_dir"), context)
        if os.environ.get(readiness.READY_DIR_ENV):
            readiness.mark_ready(os.environ[readiness.READY_DIR_ENV])
        return None
    return [answer(index, item, context) for index, item in enumerate(data)]


def configure_logging() -> None:
    """Our records to the front door, which relays them (``container.model_server_log``); the
    level is the server's setting, the one variable of it a worker reads, checked at start."""
    model_server_log.configure_worker(os.environ.get(LOG_LEVEL, "INFO").upper())


def answer(index: int, item: dict, context: Any) -> bytes:
    headers = {str(k).lower(): v for k, v in context.get_all_request_header(index).items()}
    inference_id = headers.get(INFERENCE_ID.lower(), "")
    if os.environ.get(readiness.READY_DIR_ENV):
        readiness.mark_answering(os.environ[readiness.READY_DIR_ENV], inference_id)
    stages = {}
    try:
        accept = encode.negotiate(headers.get("accept"), DEFAULT_ACCEPT)
        started = time.perf_counter()
        request = handler.prepare(
            item.get("body") or item.get("data") or b"",
            headers.get("content-type"),
            headers.get(CUSTOM_ATTRIBUTES.lower()),
        )
        stages["decode"], started = lap(started)
        if isinstance(request, handler.Batch):
            encode.check_batch_type(accept)
        assert _detector is not None  # MMS's first call, which loads it, precedes any request
        prediction = handler.predict_fn(request, _detector)
        stages["forward"], started = lap(started)
        if isinstance(prediction, tuple):
            body, per_image = handler.respond_batch(prediction, accept)
        else:
            body, found = handler.respond(prediction, accept)
            per_image = [found]
        stages["encode"], _ = lap(started)
    except RequestError as error:
        logger.debug("request %s refused: %s %s", inference_id, error.status, error.code)
        return error_response(context, index, error.status, error.to_dict())
    except Exception as error:  # noqa: BLE001 - the worker must survive whatever happens
        logger.error("request %s failed: %s\n%s", inference_id, error, traceback.format_exc())
        return error_response(
            context,
            index,
            500,
            error_document("InternalError", f"{type(error).__name__}: {error}"),
        )
    predictions = prediction if isinstance(prediction, tuple) else (prediction,)
    read = [each for each in predictions if isinstance(each, handler.Prediction)]
    detections = sum(len(found) for found in per_image if found is not None)
    pixels = sum(each.request.image.shape[0] * each.request.image.shape[1] for each in read)
    canvas = ",".join("x".join(map(str, each.canvas)) for each in read)
    logger.debug(
        "request %s: %d detection(s) in %d image(s), %d pixels, %s",
        inference_id,
        detections,
        len(read),
        pixels,
        record.server_timing(stages),
    )
    context.set_response_content_type(index, accept)
    context.set_response_header(index, record.SERVER_TIMING, record.server_timing(stages))
    context.set_response_header(
        index, record.IMAGE_FACTS, record.image_facts(detections, pixels, canvas)
    )
    return body


def lap(started: float) -> tuple[float, float]:
    """(milliseconds since ``started``, now)."""
    now = time.perf_counter()
    return (now - started) * 1000, now


def error_response(context: Any, index: int, status: int, document: dict) -> bytes:
    context.set_response_status(code=status, phrase=document["error"]["code"], idx=index)
    context.set_response_content_type(index, "application/json")
    return json.dumps(document).encode()
