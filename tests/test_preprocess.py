import mxnet as mx
import numpy as np
import pytest
from gluoncv.data.transforms import image as gluoncv_image
from gluoncv.data.transforms.presets import yolo

from inference import preprocess
from inference.errors import InvalidParameter


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


@pytest.mark.parametrize("side", preprocess.SQUARE_SIDES)
def test_square_modes_match_gluoncv_evaluation_transform(photos, side):
    # the four photographs cover enlarging, shrinking and mixed resizes at these sides
    transform = yolo.YOLO3DefaultValTransform(side, side)
    for photo in photos.values():
        expected, _ = transform(mx.nd.array(photo, dtype="uint8"), np.zeros((1, 5)))
        actual = preprocess.to_tensor(photo, mode=f"square{side}")
        assert actual.shape == (1, 3, side, side)
        np.testing.assert_allclose(actual.asnumpy()[0], expected.asnumpy(), atol=1e-6)


def test_unknown_mode_is_a_client_error(photos):
    with pytest.raises(InvalidParameter, match="mode must be one of aspect, square320"):
        preprocess.to_tensor(photos["chelsea"], mode="square512")
