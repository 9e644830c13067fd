"""Decode: request body bytes -> an HxWx3 uint8 RGB array, refusing anything else.

Every image family the endpoint accepts ends here as the same array. Pixels are counted from the
file's header before any pixel is decoded, so a decompression bomb costs nothing. EXIF orientation
is applied: boxes are reported in the pixel frame a person sees when opening the image.
"""

import base64
import binascii
import io
import json

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from inference import content_types
from inference.errors import InvalidInput, PayloadTooLarge, RequestError, UnsupportedContentType

DEFAULT_MAX_PIXELS = 40_000_000
PILLOW_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP")


def decode(
    body: bytes, content_type: str | None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Return the image in ``body`` as a C-contiguous HxWx3 uint8 RGB array."""
    media_type = content_types.base(content_type)
    if isinstance(body, str):  # the toolkit hands JSON bodies over already decoded as UTF-8
        body = body.encode("utf-8")
    if not body:
        raise InvalidInput("the request body is empty")
    if media_type in content_types.IMAGE_TYPES or media_type == content_types.ANY_IMAGE:
        # the bytes say what the image is: a GIF sent as image/png is read as the GIF it is
        return decode_image(body, max_pixels)
    if media_type == content_types.NPY:
        return decode_npy(body, max_pixels)
    if media_type == content_types.JSON:
        return decode_json(body, max_pixels)
    raise UnsupportedContentType(
        f"Content-Type {content_type!r} is not supported; send one of "
        + ", ".join(content_types.REQUEST_TYPES)
    )


def decode_image(body: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Any image Pillow reads (JPEG, PNG, GIF, BMP, TIFF, WebP); the first frame of an animation."""
    # a process-wide Pillow switch that importing gluoncv turns on; truncated files are errors here
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with Image.open(io.BytesIO(body), formats=PILLOW_FORMATS) as image:
            check_pixels(image.width, image.height, max_pixels)
            image = ImageOps.exif_transpose(image)
            return np.ascontiguousarray(to_rgb(image))
    except UnidentifiedImageError:
        raise InvalidInput(
            "the body is not an image this server reads (" + ", ".join(PILLOW_FORMATS) + ")"
        ) from None
    except Image.DecompressionBombError as error:
        raise PayloadTooLarge(str(error)) from None
    except RequestError:
        raise  # the pixel limit's own answer
    except Exception as error:  # noqa: BLE001 - a decoder's failure on these bytes is theirs
        # truncated or corrupt files raise OSError, SyntaxError or ValueError; crafted ones
        # reach TypeError or OverflowError deep in Pillow's plugins (a TIFF whose strip offset
        # is a fraction): whatever the decoder raises, the body is what cannot be read
        raise InvalidInput(
            f"the image could not be decoded: {type(error).__name__}: {error}"[:300]
        ) from None


def to_rgb(image: Image.Image) -> np.ndarray:
    """Pillow image of any mode -> HxWx3 uint8 RGB array."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float grey: scale to 8 bits instead of clipping at 255
        grey = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or grey.max() > 255 else 255.0
        grey = np.clip(grey / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # transparent pixels go on white, as image viewers show them
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def decode_npy(body: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An ``.npy`` HxWx3 uint8 array; object arrays are refused without unpickling anything."""
    stream = io.BytesIO(body)
    try:
        version = np.lib.format.read_magic(stream)
        # the header alone, before any data: numpy keeps that reader private
        shape, _, dtype = np.lib.format._read_array_header(stream, version)  # type: ignore[attr-defined]
    except (ValueError, SyntaxError, TypeError, EOFError) as error:
        raise InvalidInput(f"the body is not a valid .npy file: {error}") from None
    if dtype.hasobject:
        raise InvalidInput("object arrays are not accepted; send a uint8 HxWx3 array")
    if len(shape) != 3 or shape[2] != 3:
        raise InvalidInput(f"expected an HxWx3 array, got shape {tuple(shape)}")
    if dtype != np.uint8:
        raise InvalidInput(f"expected dtype uint8, got {dtype}")
    check_pixels(shape[1], shape[0], max_pixels)
    try:
        array = np.load(io.BytesIO(body), allow_pickle=False)
    except ValueError as error:
        raise InvalidInput(f"the .npy file could not be read: {error}") from None
    return np.ascontiguousarray(array)


def decode_json(body: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """``{"image": "<base64 of an image file>"}``."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidInput(f"the body is not valid JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("image"), str):
        raise InvalidInput('expected a JSON object {"image": "<base64-encoded image>"}')
    try:
        image_bytes = base64.b64decode(document["image"], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput('"image" is not valid base64') from None
    if not image_bytes:
        raise InvalidInput('"image" is empty')
    return decode_image(image_bytes, max_pixels)


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise InvalidInput(f"the image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"the image has {width}x{height} pixels, more than the limit of {max_pixels}"
        )
