"""SageMaker's four handler functions, as thin adapters over the request path.

decode -> preprocess -> model -> postprocess -> encode. The same functions run in this project's
container and, from ``code/`` in the model archive, in AWS's own MXNet inference container. A
batch (``{"images": [...]}``) runs the same path for each image its request could read; the
images it could not read keep their own error in its place in the answer.
"""

import dataclasses
import functools
import logging
import os
from typing import Any

import numpy as np

from inference import decode, encode, model, params, postprocess, preprocess
from inference.errors import InvalidParameter, RequestError
from inference.headers import CUSTOM_ATTRIBUTES
from inference.metadata import ModelMetadata, Suppression
from inference.settings import RequestSettings, check_against_model

logger = logging.getLogger(__name__)


@functools.cache
def settings() -> RequestSettings:
    """The environment's settings, read once.

    ``model_fn`` reads them, so a bad value fails the model load, not every request.
    """
    return RequestSettings.from_environ(os.environ)


@dataclasses.dataclass(frozen=True)
class Request:
    image: np.ndarray  # HxWx3 uint8 RGB
    params: params.RequestParams


@dataclasses.dataclass(frozen=True)
class Batch:
    """Several images in one request: each one's ``Request``, or why it could not be read."""

    entries: tuple[Request | RequestError, ...]


class BatchFailed(RequestError):
    """No image of a batch could be read: the answer is its errors, in the request's order,
    with their status when they share one."""

    code = "NoImageRead"

    def __init__(self, errors: list[RequestError]):
        super().__init__(f"none of the {len(errors)} images could be read")
        statuses = {error.status for error in errors}
        self.status = statuses.pop() if len(statuses) == 1 else 400
        self.errors = errors

    def to_dict(self) -> dict:
        return {**super().to_dict(), "results": [error.to_dict() for error in self.errors]}


@dataclasses.dataclass(frozen=True)
class Prediction:
    request: Request
    ids: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    input_size: tuple  # (width, height) of the image resized for the network
    canvas: tuple  # (width, height) of the tensor the network took, the image at its top left
    model_name: str
    precision: str
    labels: tuple
    suppression: Suppression | None  # NMS to run, None where the network ran it


def request_headers(context: Any) -> dict[str, str]:
    """The request's headers, lower-cased, from a model-server context (or ``{}``)."""
    try:
        properties = context.request_processor[0].get_request_properties()
    except (AttributeError, IndexError, TypeError):
        return {}
    return {str(key).lower(): value for key, value in dict(properties or {}).items()}


def model_fn(model_dir: str, context: Any = None) -> model.Detector:
    """Load the detector; the endpoint's settings are checked against it first."""
    gpu_id = context.system_properties.get("gpu_id") if context is not None else None
    mode = settings().defaults.mode
    detector = model.load_detector(model_dir, model.choose_context(gpu_id), mode)
    check_against_model(settings(), detector.metadata.classes, detector.metadata.post_nms)
    return detector


def input_fn(input_data: bytes, content_type: str | None, context: Any = None) -> Request | Batch:
    headers = request_headers(context)
    return prepare(input_data, content_type, headers.get(CUSTOM_ATTRIBUTES.lower()))


def prepare(
    body: bytes, content_type: str | None, custom_attributes: str | None = None
) -> Request | Batch:
    """Decode and validate one request: its image (or a batch's) and its parameters."""
    endpoint = settings()
    request_params = endpoint.defaults.with_attributes(custom_attributes)
    read = decode.read(body, content_type, endpoint.max_pixels, endpoint.s3, endpoint.max_images)
    if not isinstance(read, list):
        return Request(read, request_params)
    if request_params.image_id is not None:
        raise InvalidParameter('a batch\'s images take their ids from "image_id" in each entry')
    entries = tuple(
        entry
        if isinstance(entry, RequestError)
        else Request(
            entry.image,
            dataclasses.replace(
                request_params, image_id=position if entry.image_id is None else entry.image_id
            ),
        )
        for position, entry in enumerate(read)
    )
    errors = [entry for entry in entries if isinstance(entry, RequestError)]
    if len(errors) == len(entries):
        raise BatchFailed(errors)
    return Batch(entries)


def check_params(request_params: params.RequestParams, metadata: ModelMetadata) -> None:
    """What the model cannot do for these parameters is refused before any work."""
    if request_params.max_detections > metadata.post_nms:
        raise InvalidParameter(
            f"max_detections={request_params.max_detections} is more than this model keeps: its "
            f"non-maximum suppression returns at most {metadata.post_nms} detections"
        )
    postprocess.class_ids_for(request_params.classes, metadata.classes)


def predict_fn(
    data: Request | Batch, detector: model.Detector
) -> "Prediction | tuple[Prediction | RequestError, ...]":
    if isinstance(data, Batch):
        return predict_batch(data, detector)
    check_params(data.params, detector.metadata)
    return predict(data, detector)


def predict_batch(batch: Batch, detector: model.Detector) -> tuple[Prediction | RequestError, ...]:
    """Each readable image's prediction, each unreadable one's error, in the batch's order."""
    for entry in batch.entries:
        if isinstance(entry, Request):
            check_params(entry.params, detector.metadata)
            break
    return tuple(
        entry if isinstance(entry, RequestError) else predict(entry, detector)
        for entry in batch.entries
    )


def predict(data: Request, detector: model.Detector) -> Prediction:
    """One image through preprocessing and the network."""
    metadata = detector.metadata
    tensor = preprocess.to_tensor(
        data.image, data.params.mode, ctx=detector.ctx, **metadata.preprocessing
    )
    ids, scores, boxes = detector(tensor)
    # boxes come in the resized image's pixels, wherever it sits on the canvas (top left)
    image_height, image_width = data.image.shape[:2]
    height, width = preprocess.input_shape(
        image_height, image_width, data.params.mode, metadata.short, metadata.max_size
    )
    return Prediction(
        request=data,
        ids=ids.asnumpy(),
        scores=scores.asnumpy(),
        boxes=boxes.asnumpy(),
        input_size=(width, height),
        canvas=(tensor.shape[3], tensor.shape[2]),
        model_name=detector.metadata.name,
        precision=detector.metadata.precision,
        labels=detector.metadata.classes,
        suppression=detector.metadata.suppression,
    )


def output_fn(
    prediction: "Prediction | tuple[Prediction | RequestError, ...]", accept: str | None
) -> tuple[bytes, str]:
    media_type = encode.negotiate(accept)
    if isinstance(prediction, tuple):
        encode.check_batch_type(media_type)
        body, _ = respond_batch(prediction, media_type)
    else:
        body, _ = respond(prediction, media_type)
    return body, media_type


def respond_batch(
    predictions: tuple[Prediction | RequestError, ...], media_type: str
) -> tuple[bytes, list]:
    """A batch's body and each image's detections (``None`` for an image not read)."""
    bodies: list[bytes | RequestError] = []
    detections: list = []
    for prediction in predictions:
        if isinstance(prediction, RequestError):
            bodies.append(prediction)
            detections.append(None)
        else:
            body, found = respond(prediction, media_type)
            bodies.append(body)
            detections.append(found)
    return encode.encode_batch(bodies, media_type), detections


def respond(prediction: Prediction, media_type: str) -> tuple[bytes, list]:
    """Postprocess and encode in an already negotiated ``media_type``: (body, detections)."""
    image = prediction.request.image
    detections = postprocess.to_detections(
        prediction.ids,
        prediction.scores,
        prediction.boxes,
        input_size=prediction.input_size,
        image_size=(image.shape[1], image.shape[0]),
        labels=prediction.labels,
        params=prediction.request.params,
        suppression=prediction.suppression,
    )
    request_params = prediction.request.params
    body = encode.encode(
        detections,
        media_type,
        prediction.model_name,
        image,
        coordinates=request_params.coordinates,
        image_id=request_params.image_id or 0,
        labels=prediction.labels,
        precision=prediction.precision,
    )
    return body, detections
