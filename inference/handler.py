"""SageMaker's four handler functions, as thin adapters over the request path.

decode -> preprocess -> model -> postprocess -> encode. The same functions run in this project's
container and, from ``code/`` in the model archive, in AWS's own MXNet inference container.
"""

import dataclasses
import functools
import logging
import os

import numpy as np

from inference import decode, encode, model, params, postprocess, preprocess
from inference.errors import InvalidParameter
from inference.headers import CUSTOM_ATTRIBUTES
from inference.metadata import Suppression
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
class Prediction:
    request: Request
    ids: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    input_size: tuple  # (width, height) of the image resized for the network
    canvas: tuple  # (width, height) of the tensor the network took, the image at its top left
    model_name: str
    labels: tuple
    suppression: Suppression | None  # NMS to run, None where the network ran it


def request_headers(context) -> dict[str, str]:
    """The request's headers, lower-cased, from a model-server context (or ``{}``)."""
    try:
        properties = context.request_processor[0].get_request_properties()
    except (AttributeError, IndexError, TypeError):
        return {}
    return {str(key).lower(): value for key, value in dict(properties or {}).items()}


def model_fn(model_dir: str, context=None) -> model.Detector:
    """Load the detector; the endpoint's settings are checked against it first."""
    gpu_id = context.system_properties.get("gpu_id") if context is not None else None
    mode = settings().defaults.mode
    detector = model.load_detector(model_dir, model.choose_context(gpu_id), mode)
    check_against_model(settings(), detector.metadata.classes, detector.metadata.post_nms)
    return detector


def input_fn(input_data: bytes, content_type: str | None, context=None) -> Request:
    headers = request_headers(context)
    return prepare(input_data, content_type, headers.get(CUSTOM_ATTRIBUTES.lower()))


def prepare(body: bytes, content_type: str | None, custom_attributes: str | None = None) -> Request:
    """Decode and validate one request: its image and its parameters."""
    endpoint = settings()
    return Request(
        decode.decode(body, content_type, endpoint.max_pixels),
        endpoint.defaults.with_attributes(custom_attributes),
    )


def predict_fn(data: Request, detector: model.Detector) -> Prediction:
    if data.params.max_detections > detector.metadata.post_nms:
        raise InvalidParameter(
            f"max_detections={data.params.max_detections} is more than this model keeps: its "
            f"non-maximum suppression returns at most {detector.metadata.post_nms} detections"
        )
    postprocess.class_ids_for(data.params.classes, detector.metadata.classes)  # before the work
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
        labels=detector.metadata.classes,
        suppression=detector.metadata.suppression,
    )


def output_fn(prediction: Prediction, accept: str | None) -> tuple[bytes, str]:
    media_type = encode.negotiate(accept)
    body, _ = respond(prediction, media_type)
    return body, media_type


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
    return encode.encode(detections, media_type, prediction.model_name, image), detections
