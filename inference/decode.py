"""Decode: request body bytes -> an HxWx3 uint8 RGB array (or a batch's), refusing anything else.

Every image family the endpoint accepts ends here as the same array: image files, ``.npy``
arrays, and JSON naming an image inline (``{"image": "<base64>"}``) or in S3 (``{"s3_uri":
...}``, see ``sources``), or several (``{"images": [...]}``: a batch, each entry read or refused
on its own). Pixels are counted from the file's header before any pixel is decoded, so a
decompression bomb costs nothing; a batch's images share one pixel budget. EXIF orientation is
applied: boxes are reported in the pixel frame a person sees when opening the image.
"""

import concurrent.futures
import dataclasses
import io
import json

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from inference import content_types, sources
from inference.errors import InvalidInput, PayloadTooLarge, RequestError, UnsupportedContentType
from inference.params import parse_image_id

DEFAULT_MAX_PIXELS = 40_000_000
PILLOW_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP")
BATCH_KEY = "images"
ENTRY_KEYS = ("image", "s3_uri")  # where an image is: exactly one of them
S3_READERS = 8  # a batch's S3 objects read at once


@dataclasses.dataclass(frozen=True)
class Entry:
    """One image of a batch that could be read, with the ``image_id`` its entry gave."""

    image: np.ndarray
    image_id: int | None = None


def decode(
    body: bytes,
    content_type: str | None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    s3: sources.S3Access = sources.NO_S3,
) -> np.ndarray:
    """Return the one image in ``body`` as a C-contiguous HxWx3 uint8 RGB array."""
    image = read(body, content_type, max_pixels, s3, max_images=1)
    if isinstance(image, list):
        raise InvalidInput(f'"{BATCH_KEY}" (a batch) is not taken here; send one image')
    return image


def read(
    body: bytes | str,
    content_type: str | None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    s3: sources.S3Access = sources.NO_S3,
    max_images: int = 16,
) -> np.ndarray | list[Entry | RequestError]:
    """The image in ``body``, or a batch's entries when it is ``{"images": [...]}``."""
    media_type = content_types.base(content_type)
    body = as_bytes(body)
    if media_type in content_types.IMAGE_TYPES or media_type == content_types.ANY_IMAGE:
        # the bytes say what the image is: a GIF sent as image/png is read as the GIF it is
        return decode_image(body, max_pixels)
    if media_type == content_types.NPY:
        return decode_npy(body, max_pixels)
    if media_type == content_types.JSON:
        document = json_document(body)
        if BATCH_KEY in document:
            return decode_batch(document, max_pixels, max_images, s3)
        return decode_entry(document, max_pixels, s3)
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


def as_bytes(body: bytes | str) -> bytes:
    if isinstance(body, str):  # the toolkit hands JSON bodies over already decoded as UTF-8
        body = body.encode("utf-8")
    if not body:
        raise InvalidInput("the request body is empty")
    return body


def json_document(body: bytes) -> dict:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise InvalidInput(f"the body is not valid JSON: {error}"[:300]) from None
    if not isinstance(document, dict):
        raise InvalidInput(
            'expected a JSON object: {"image": "<base64>"}, {"s3_uri": "s3://bucket/key"} '
            'or {"images": [...]}'
        )
    return document


def decode_entry(
    entry: object, max_pixels: int = DEFAULT_MAX_PIXELS, s3: sources.S3Access = sources.NO_S3
) -> np.ndarray:
    """``{"image": "<base64 of an image file>"}`` or ``{"s3_uri": "s3://bucket/key"}``."""
    return decode_image(entry_bytes(entry, s3), max_pixels)


def entry_bytes(entry: object, s3: sources.S3Access, in_batch: bool = False) -> bytes:
    """The image file's bytes an entry names, inline or from S3."""
    check_entry(entry, in_batch)
    assert isinstance(entry, dict)  # checked
    if "image" in entry:
        return sources.inline_image(entry["image"])
    return sources.s3_object(entry["s3_uri"], s3)


def check_entry(entry: object, in_batch: bool) -> None:
    if not isinstance(entry, dict) or sum(key in entry for key in ENTRY_KEYS) != 1:
        raise InvalidInput(
            'expected a JSON object {"image": "<base64-encoded image>"} or '
            '{"s3_uri": "s3://bucket/key"}, with one of them'
        )
    known = (*ENTRY_KEYS, "image_id") if in_batch else ENTRY_KEYS
    unknown = sorted(set(entry) - set(known))
    if unknown:
        # a single image's id for COCO results is the image_id custom attribute
        raise InvalidInput(f"unknown key {unknown[0][:50]!r}; known: " + ", ".join(known))


def decode_batch(
    document: dict,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_images: int = 16,
    s3: sources.S3Access = sources.NO_S3,
) -> list[Entry | RequestError]:
    """``{"images": [entry, ...]}`` -> per image, in order, its ``Entry`` or why it was refused.

    A malformed document or too many images refuse the request; an entry that cannot be read
    (not an image, not in S3, over what is left of the pixel budget) is refused on its own.
    """
    entries = document.get(BATCH_KEY)
    unknown = sorted(set(document) - {BATCH_KEY})
    if unknown:
        raise InvalidInput(f"unknown key {unknown[0][:50]!r} next to {BATCH_KEY!r}")
    if not isinstance(entries, list) or not entries:
        raise InvalidInput(f'"{BATCH_KEY}" must be a list of one or more images')
    if len(entries) > max_images:
        raise InvalidInput(
            f"{len(entries)} images in one request, more than this endpoint takes "
            f"({max_images}, SM_DETECT_MAX_IMAGES)"
        )
    with concurrent.futures.ThreadPoolExecutor(S3_READERS) as readers:
        # S3 objects are fetched at once; inline images are only base64 to undo
        fetched = [readers.submit(entry_bytes, entry, s3, True) for entry in entries]
        results: list[Entry | RequestError] = []
        left = max_pixels
        for entry, bytes_of in zip(entries, fetched, strict=True):
            try:
                image_id = entry_image_id(entry)
                image = decode_image(bytes_of.result(), left)
            except PayloadTooLarge as error:
                results.append(within_budget(error, left, max_pixels))
            except RequestError as error:
                results.append(error)
            else:
                left -= image.shape[0] * image.shape[1]
                results.append(Entry(image=image, image_id=image_id))
    return results


def entry_image_id(entry: object) -> int | None:
    value = entry.get("image_id") if isinstance(entry, dict) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput('"image_id" must be a whole number')
    return parse_image_id(str(value))


def within_budget(error: PayloadTooLarge, left: int, max_pixels: int) -> PayloadTooLarge:
    if left == max_pixels:
        return error
    return PayloadTooLarge(
        f"{error.message} left of the {max_pixels} the request's images may have in all"
    )


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise InvalidInput(f"the image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"the image has {width}x{height} pixels, more than the limit of {max_pixels}"
        )
