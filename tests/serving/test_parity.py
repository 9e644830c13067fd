"""Served detections equal GluonCV's own pipeline on the same weights and image.

Reference: ``gluoncv.data.transforms.presets.yolo.load_test`` (the ``exact`` mode), or its
tensor padded by numpy onto the bucket canvas (the default ``aspect`` mode), through the GluonCV
network the model was exported from, boxes mapped back to the original image by GluonCV's own
``bbox.resize`` clipped to the image.
Served: the packaged model behind the real server, over HTTP.
"""

import mxnet as mx
import numpy as np
import pytest
import requests
from gluoncv.data.transforms import bbox as gluoncv_bbox
from gluoncv.data.transforms.presets import yolo

from inference import preprocess
from tests.agreement import assert_same_detections
from tests.helpers import encode_image

pytestmark = pytest.mark.server


def reference_detections(net, path, canvas=None):
    """GluonCV's ``load_test``; with ``canvas``, its tensor padded at the bottom and right."""
    tensor, resized = yolo.load_test(str(path), short=416, max_size=1024)
    if canvas:
        height, width = tensor.shape[2:]
        padding = ((0, 0), (0, 0), (0, canvas[0] - height), (0, canvas[1] - width))
        tensor = mx.nd.array(np.pad(tensor.asnumpy(), padding))
    ids, scores, boxes = (output[0].asnumpy() for output in net(tensor))
    return ids[:, 0], scores[:, 0], boxes, resized.shape[:2]


def evaluation_reference(net, photo, side):
    """GluonCV's evaluation input (``YOLO3DefaultValTransform``), the basis of its COCO AP."""
    transform = yolo.YOLO3DefaultValTransform(side, side)
    tensor, _ = transform(mx.nd.array(photo, dtype="uint8"), np.zeros((1, 5)))
    ids, scores, boxes = (output[0].asnumpy() for output in net(tensor.expand_dims(0)))
    return ids[:, 0], scores[:, 0], boxes, (side, side)


def served_detections(server, body, content_type, attributes=""):
    response = requests.post(
        f"{server.url}/invocations",
        data=body,
        headers={
            "Content-Type": content_type,
            "X-Amzn-SageMaker-Custom-Attributes": "threshold=0,max_detections=100" + attributes,
        },
        timeout=120,
    )
    assert response.status_code == 200, response.text
    return response.json()


def assert_same(served, reference, image_shape):
    """The served answer against GluonCV's, mapped back to the image as the server does."""
    ids, scores, boxes, (resized_height, resized_width) = reference
    height, width = image_shape[:2]
    keep = ids >= 0
    mapped = gluoncv_bbox.resize(boxes[keep], (resized_width, resized_height), (width, height))
    mapped = np.clip(mapped, 0, [width, height, width, height])
    expected = []
    for class_id, score, box in zip(ids[keep], scores[keep], mapped, strict=True):
        xmin, ymin, xmax, ymax = box
        expected.append(
            {
                "class_id": int(class_id),
                "label": str(int(class_id)),
                "score": float(score),
                "box": {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax},
            }
        )
    expected.sort(key=lambda detection: -detection["score"])
    assert len(expected) > 0, "the reference found nothing: a vacuous comparison"
    # both lists end at the NMS's cap of 100, where near-equal scores may trade places
    assert_same_detections(served["detections"], expected, cut=len(expected) == 100)


@pytest.mark.parametrize("name", ["astronaut", "coffee", "motorcycle"])
def test_exact_mode_is_gluoncvs_load_test(server, reference_net, photos, tmp_path, name):
    body = encode_image(photos[name], "PNG")
    path = tmp_path / f"{name}.png"
    path.write_bytes(body)
    served = served_detections(server, body, "image/png", ",mode=exact")
    assert served["image"] == {"width": photos[name].shape[1], "height": photos[name].shape[0]}
    assert_same(served, reference_detections(reference_net, path), photos[name].shape)


@pytest.mark.parametrize("name", ["coffee", "motorcycle", "chelsea"])
def test_the_default_is_load_test_on_its_bucket_canvas(
    server, reference_net, photos, tmp_path, name
):
    body = encode_image(photos[name], "PNG")
    path = tmp_path / f"{name}.png"
    path.write_bytes(body)
    served = served_detections(server, body, "image/png")
    canvas = preprocess.canvas_shape(*photos[name].shape[:2])
    reference = reference_detections(reference_net, path, canvas)
    assert_same(served, reference, photos[name].shape)


def test_jpeg_parity(server, reference_net, photos, tmp_path):
    body = encode_image(photos["astronaut"], "JPEG", quality=92)
    path = tmp_path / "astronaut.jpg"
    path.write_bytes(body)
    served = served_detections(server, body, "image/jpeg")  # square: its canvas is itself
    assert_same(served, reference_detections(reference_net, path), photos["astronaut"].shape)


@pytest.mark.parametrize("side", [320, 608])
def test_square_mode_parity_with_gluoncv_evaluation(server, reference_net, photos, side):
    photo = photos["motorcycle"]  # 741x500: stretched, so x and y scale back differently
    served = served_detections(
        server, encode_image(photo, "PNG"), "image/png", f",mode=square{side}"
    )
    assert_same(served, evaluation_reference(reference_net, photo, side), photo.shape)
