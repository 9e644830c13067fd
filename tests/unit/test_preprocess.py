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


def test_exact_mode_is_gluoncvs_transform_test(photos):
    for photo in photos.values():
        expected, _ = yolo.transform_test(
            mx.nd.array(photo, dtype="uint8"), short=416, max_size=1024
        )
        actual = preprocess.to_tensor(photo, mode="exact")
        assert actual.shape == expected.shape
        np.testing.assert_allclose(actual.asnumpy(), expected.asnumpy(), atol=1e-6)


@pytest.mark.parametrize(
    "name, canvas",
    [
        ("astronaut", (416, 416)),  # 512x512: square, nothing to pad
        ("coffee", (416, 624)),  # 600x400, 3:2: a bucket of its own, nothing to pad
        ("motorcycle", (416, 624)),  # 741x500 -> 617x416: 7 columns of padding
        ("chelsea", (416, 740)),  # 451x300 -> 625x416, just over 3:2: the next bucket
    ],
)
def test_aspect_mode_is_transform_test_on_a_bucket_canvas(photos, name, canvas):
    photo = photos[name]
    resized, _ = yolo.transform_test(mx.nd.array(photo, dtype="uint8"), short=416, max_size=1024)
    height, width = resized.shape[2:]
    # the canvas as numpy pads it, the fill GluonCV's training expands images with (the mean)
    expected = np.pad(
        resized.asnumpy(), ((0, 0), (0, 0), (0, canvas[0] - height), (0, canvas[1] - width))
    )
    actual = preprocess.to_tensor(photo)
    assert actual.shape[2:] == canvas
    np.testing.assert_allclose(actual.asnumpy(), expected, atol=1e-6)
    assert preprocess.canvas_shape(*photo.shape[:2]) == canvas


@pytest.mark.parametrize(
    "precision_buckets", [preprocess.BUCKETS, preprocess.LOWER_PRECISION_BUCKETS]
)
def test_any_image_lands_on_one_of_few_canvases(precision_buckets):
    shapes = set(preprocess.canvas_shapes(buckets=precision_buckets))
    assert len(shapes) == 2 * len(precision_buckets) - 1
    rng = np.random.default_rng(0)
    for height, width in rng.integers(1, 5000, size=(3000, 2)):
        canvas = preprocess.canvas_shape(height, width, buckets=precision_buckets)
        content = preprocess.input_shape(height, width)
        assert canvas in shapes
        assert canvas[0] >= content[0] and canvas[1] >= content[1]  # it holds the image


@pytest.mark.parametrize(
    "photo_size, long_side",
    [((3000, 4000), 555), ((4000, 6000), 624), ((1080, 1920), 740), ((2000, 2000), 416)],
)
def test_common_camera_proportions_are_not_padded(photo_size, long_side):
    # 4:3, 3:2, 16:9 and 1:1 photos: the resized image is its canvas, in both orientations
    for height, width in (photo_size, photo_size[::-1]):
        content = preprocess.input_shape(height, width)
        assert preprocess.canvas_shape(height, width) == content
        assert max(content) == long_side
        assert (
            preprocess.canvas_shape(height, width, buckets=preprocess.LOWER_PRECISION_BUCKETS)
            == content
        )


@pytest.mark.parametrize("buckets", [(), (320, 1024), (416, 800), (416, 900, 640, 1024)])
def test_buckets_must_cover_the_images_from_short_to_max_size(buckets):
    with pytest.raises(ValueError, match="buckets must be increasing long sides from 416"):
        preprocess.check_buckets(buckets)


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
    with pytest.raises(InvalidParameter, match="mode must be one of aspect, exact, square320"):
        preprocess.to_tensor(photos["chelsea"], mode="square512")
