import mxnet as mx
import numpy as np
import pytest
from gluoncv.data.transforms import image as gluoncv_image
from gluoncv.data.transforms.presets import yolo

from inference import preprocess


@pytest.mark.parametrize(
    "height, width",
    [
        (576, 768),
        (480, 640),
        (1080, 1920),
        (416, 416),
        (100, 3000),
        (3000, 100),
        (300, 200),
        (17, 23),
    ],
)
def test_resized_shape_matches_gluoncv(height, width):
    reference = gluoncv_image.resize_short_within(
        mx.nd.zeros((height, width, 3), dtype="uint8"), 416, 1024
    )
    assert preprocess.resized_shape(height, width) == reference.shape[:2]


def test_tensor_matches_gluoncv_transform_test(photos):
    for photo in photos.values():
        expected, _ = yolo.transform_test(
            mx.nd.array(photo, dtype="uint8"), short=416, max_size=1024
        )
        actual = preprocess.to_tensor(photo)
        assert actual.shape == expected.shape
        np.testing.assert_allclose(actual.asnumpy(), expected.asnumpy(), atol=1e-6)
