import io
import json

import numpy as np
import pytest
from PIL import Image

from inference import encode
from inference.errors import UnsupportedAccept
from inference.postprocess import Detection

DETECTIONS = [
    Detection(16, "dog", 0.98, (10.0, 20.0, 60.0, 70.0)),
    Detection(0, "person", 0.51234567, (0.0, 0.0, 20.5, 30.25)),
]
IMAGE = np.full((80, 100, 3), 128, dtype=np.uint8)


@pytest.mark.parametrize(
    "accept, expected",
    [
        (None, "application/json"),
        ("", "application/json"),
        ("*/*", "application/json"),
        ("application/jsonlines", "application/jsonlines"),
        ("image/png, application/json;q=0.9", "image/png"),
        ("text/html, image/jpeg", "image/jpeg"),
        ("image/*", "image/jpeg"),
        ("application/x-npy", "application/x-npy"),
        # q-values before order, as clients send them
        ("application/json;q=0.9, image/png", "image/png"),
        ("image/png;q=0.2, application/x-npy;q=0.8", "application/x-npy"),
        ("image/png;q=0.5, */*;q=0.5", "image/png"),
        ("image/png;q=0, */*;q=0.1", "application/json"),
        ("text/html, image/*;q=0.3", "image/jpeg"),
        ("Image/PNG; Q=0.7, text/html", "image/png"),
    ],
)
def test_negotiate(accept, expected):
    assert encode.negotiate(accept) == expected


@pytest.mark.parametrize(
    "accept", ["text/html, text/csv", "image/png;q=0", "application/json;q=nan"]
)
def test_negotiate_refuses_what_it_cannot_make(accept):
    with pytest.raises(UnsupportedAccept):
        encode.negotiate(accept)


def test_json_document():
    body = json.loads(encode.encode(DETECTIONS, "application/json", "yolo", IMAGE))
    assert body["model"] == "yolo"
    assert body["image"] == {"width": 100, "height": 80}
    assert body["detections"][0] == {
        "class_id": 16,
        "label": "dog",
        "score": 0.98,
        "box": {"xmin": 10.0, "ymin": 20.0, "xmax": 60.0, "ymax": 70.0},
    }
    assert body["detections"][1]["score"] == 0.512346


def test_jsonlines_is_one_line_with_the_same_document():
    body = encode.encode(DETECTIONS, "application/jsonlines", "yolo", IMAGE)
    assert body.endswith(b"\n") and body.count(b"\n") == 1
    assert json.loads(body) == json.loads(
        encode.encode(DETECTIONS, "application/json", "yolo", IMAGE)
    )


def test_npy_rows():
    rows = np.load(io.BytesIO(encode.encode(DETECTIONS, "application/x-npy", "yolo", IMAGE)))
    assert rows.dtype == np.float32 and rows.shape == (2, 6)
    np.testing.assert_allclose(rows[0], [16, 0.98, 10, 20, 60, 70], rtol=1e-6)


def test_npy_with_no_detections_has_six_columns():
    rows = np.load(io.BytesIO(encode.encode([], "application/x-npy", "yolo", IMAGE)))
    assert rows.shape == (0, 6)


@pytest.mark.parametrize("media_type, image_format", [("image/jpeg", "JPEG"), ("image/png", "PNG")])
def test_drawn_image(media_type, image_format):
    body = encode.encode(DETECTIONS, media_type, "yolo", IMAGE)
    picture = Image.open(io.BytesIO(body))
    assert picture.format == image_format and picture.size == (100, 80)
    pixels = np.asarray(picture.convert("RGB")).astype(int)
    dog_colour = encode.PALETTE[16 % len(encode.PALETTE)]
    # the dog box's bottom edge is drawn in the dog's colour; the middle of the box is untouched
    assert np.abs(pixels[70, 35] - dog_colour).max() < 40
    assert np.abs(pixels[50, 35] - 128).max() < 10
