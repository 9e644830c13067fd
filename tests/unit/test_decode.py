import base64
import io
import json
import pathlib

import numpy as np
import pytest
from PIL import Image

from inference import decode
from inference.errors import InvalidInput, PayloadTooLarge, UnsupportedContentType
from tests.helpers import encode_image, png_declaring, tiff_with_strip_offsets_of_type


def test_png_round_trips_exactly(random_array):
    decoded = decode.decode(encode_image(random_array, "PNG"), "image/png")
    assert decoded.dtype == np.uint8 and decoded.flags.c_contiguous
    np.testing.assert_array_equal(decoded, random_array)


def test_jpeg_decodes_to_its_size_and_close_to_the_source(photos):
    source = photos["astronaut"]
    decoded = decode.decode(encode_image(source, "JPEG", quality=95), "image/jpeg")
    assert decoded.shape == source.shape
    assert np.abs(decoded.astype(int) - source).mean() < 3  # lossy, but the same picture


def test_content_type_parameters_are_ignored(random_array):
    body = encode_image(random_array, "PNG")
    assert decode.decode(body, "image/png; charset=binary").shape == random_array.shape


def test_any_image_label_sniffs_the_format(random_array):
    for image_format in ("PNG", "BMP", "TIFF", "WEBP"):
        body = encode_image(
            random_array, image_format, **({"lossless": True} if image_format == "WEBP" else {})
        )
        np.testing.assert_array_equal(decode.decode(body, "application/x-image"), random_array)


@pytest.mark.parametrize(
    "image_format, media_type",
    [
        ("GIF", "image/gif"),
        ("BMP", "image/bmp"),
        ("BMP", "image/x-ms-bmp"),
        ("TIFF", "image/tiff"),
        ("WEBP", "image/webp"),
    ],
)
def test_every_image_type_the_decoder_reads_is_accepted(random_array, image_format, media_type):
    options = {"lossless": True} if image_format == "WEBP" else {}
    source = random_array if image_format != "GIF" else random_array // 64 * 64  # few colours
    decoded = decode.decode(encode_image(source, image_format, **options), media_type)
    np.testing.assert_array_equal(decoded, source)


@pytest.mark.parametrize("media_type", ["image/svg+xml", "image/heic", "image/avif"])
def test_image_types_the_decoder_cannot_read_are_415(random_array, media_type):
    with pytest.raises(UnsupportedContentType, match="image/webp"):
        decode.decode(encode_image(random_array, "PNG"), media_type)


def test_grayscale_becomes_three_equal_channels():
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    decoded = decode.decode(encode_image(grey, "PNG"), "image/png")
    assert decoded.shape == (8, 8, 3)
    for channel in range(3):
        np.testing.assert_array_equal(decoded[:, :, channel], grey)


def test_sixteen_bit_png_is_scaled_not_clipped():
    deep = np.array([[0, 32768, 65535]], dtype=np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(deep, mode="I;16").save(buffer, format="PNG")
    decoded = decode.decode(buffer.getvalue(), "image/png")
    assert decoded[0, :, 0].tolist() == [0, 128, 255]


def test_transparent_pixels_are_composited_on_white():
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[:2, :, :] = (255, 0, 0, 255)  # opaque red top half, transparent bottom half
    decoded = decode.decode(encode_image(rgba, "PNG"), "image/png")
    assert decoded[0, 0].tolist() == [255, 0, 0]
    assert decoded[3, 3].tolist() == [255, 255, 255]


def test_palette_png(random_array):
    palette_image = Image.fromarray(random_array).convert("P", palette=Image.ADAPTIVE)
    buffer = io.BytesIO()
    palette_image.save(buffer, format="PNG")
    decoded = decode.decode(buffer.getvalue(), "image/png")
    np.testing.assert_array_equal(decoded, np.asarray(palette_image.convert("RGB")))


def test_cmyk_jpeg_becomes_rgb():
    cmyk = Image.new("CMYK", (16, 8), (0, 255, 255, 0))  # pure red in CMYK
    buffer = io.BytesIO()
    cmyk.save(buffer, format="JPEG", quality=100)
    decoded = decode.decode(buffer.getvalue(), "image/jpeg")
    assert decoded.shape == (8, 16, 3)
    red, green, blue = decoded[4, 8].astype(int)
    assert red > 200 and green < 60 and blue < 60


def test_exif_orientation_is_applied():
    # landscape pixels stored with "rotate 90 CW" (orientation 6): a viewer shows a portrait
    picture = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", exif=exif.tobytes())
    assert decode.decode(buffer.getvalue(), "image/jpeg").shape == (40, 20, 3)


def test_first_frame_of_an_animation():
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    decoded = decode.decode(buffer.getvalue(), "application/x-image")
    assert decoded[0, 0, 0] > 200 and decoded[0, 0, 1] < 50


@pytest.mark.parametrize(
    "body",
    [
        b"hello, world",
        b"<html><body>hi</body></html>",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
        b"PK\x03\x04" + b"\0" * 40,
    ],
)
def test_non_images_are_refused(body):
    with pytest.raises(InvalidInput):
        decode.decode(body, "image/jpeg")


def test_empty_body_is_refused():
    with pytest.raises(InvalidInput, match="empty"):
        decode.decode(b"", "image/png")


@pytest.mark.parametrize("image_format", ["JPEG", "PNG"])
def test_truncated_files_are_refused(random_array, image_format):
    body = encode_image(random_array, image_format)
    with pytest.raises(InvalidInput):
        decode.decode(body[: len(body) // 2], "application/x-image")


def test_decompression_bomb_is_refused_from_the_header():
    with pytest.raises(PayloadTooLarge):
        decode.decode(png_declaring(30000, 30000), "image/png")


def test_pixel_limit_is_configurable(random_array):
    body = encode_image(random_array, "PNG")
    with pytest.raises(PayloadTooLarge, match="limit of 1000"):
        decode.decode(body, "image/png", max_pixels=1000)


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def test_npy_round_trips(random_array):
    np.testing.assert_array_equal(
        decode.decode(npy(random_array), "application/x-npy"), random_array
    )


class TouchesWhenUnpickled:
    """Unpickling this creates a file: proof that something was unpickled."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (self.path,))


def test_npy_object_arrays_are_refused_without_unpickling(tmp_path):
    witness = tmp_path / "unpickled"
    array = np.empty((1, 1, 3), dtype=object)
    array[0, 0, :] = [TouchesWhenUnpickled(witness)] * 3
    with pytest.raises(InvalidInput, match="object"):
        decode.decode(npy(array), "application/x-npy")
    assert not witness.exists()


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((8, 8), np.uint8),
        np.zeros((8, 8, 4), np.uint8),
        np.zeros((8, 8, 3), np.float32),
        np.zeros((0, 8, 3), np.uint8),
    ],
)
def test_npy_wrong_shape_or_dtype_is_refused(array):
    with pytest.raises(InvalidInput):
        decode.decode(npy(array), "application/x-npy")


def test_npy_garbage_is_refused():
    with pytest.raises(InvalidInput):
        decode.decode(b"\x93NUMPY garbage", "application/x-npy")


def test_json_base64_image(random_array):
    body = json.dumps({"image": base64.b64encode(encode_image(random_array, "PNG")).decode()})
    np.testing.assert_array_equal(decode.decode(body, "application/json"), random_array)
    # the toolkit passes JSON bodies as str
    np.testing.assert_array_equal(decode.decode(body.encode(), "application/json"), random_array)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'{"picture": "aGk="}',
        b'{"image": "***"}',
        b'{"image": {"nested": [1]}}',
        b'{"image": ""}',
        b"\xff\xfe\x00",
    ],
)
def test_bad_json_is_refused(body):
    with pytest.raises(InvalidInput):
        decode.decode(body, "application/json")


@pytest.mark.parametrize("content_type", ["text/plain", "application/pdf", None, ""])
def test_unsupported_content_type(random_array, content_type):
    with pytest.raises(UnsupportedContentType):
        decode.decode(encode_image(random_array, "PNG"), content_type)


@pytest.mark.parametrize("field_type", [5, 12])  # RATIONAL, DOUBLE
def test_a_crafted_tiff_that_breaks_pillows_loader_is_a_400(field_type):
    array = np.random.default_rng(2).integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    body = tiff_with_strip_offsets_of_type(array, field_type)
    with pytest.raises(TypeError), Image.open(io.BytesIO(body)) as image:
        image.load()  # what Pillow itself does with it: not one of its documented errors
    with pytest.raises(InvalidInput, match="TypeError"):
        decode.decode(body, "image/tiff")
