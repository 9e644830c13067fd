"""Encode: detections -> response bytes in the media type the client accepts.

JSON (one document), JSON Lines (the same document on one line, for batch transform), NPY (an
Nx6 float32 array of class_id, score, xmin, ymin, xmax, ymax), or the input image as JPEG/PNG with
the boxes and labels drawn on it, so a browser or Postman shows the picture.
"""

import io
import json
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from inference import content_types
from inference.errors import UnsupportedAccept

PALETTE = (
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (0, 128, 128),
)


def negotiate(accept: str | None, default: str = content_types.JSON) -> str:
    """The type to answer in, by the Accept header's preferences (q-values, then order).

    Missing, ``*/*`` or ``application/*`` mean ``default``; ``image/*`` means JPEG; a range
    with ``q=0`` is refused; nothing acceptable is a 406.
    """
    if not accept:
        return default
    for media_range in sorted(media_ranges(accept), key=lambda item: -item[1]):
        media_type, quality = media_range
        if quality <= 0:
            break
        if media_type in content_types.RESPONSE_TYPES:
            return media_type
        if media_type in (content_types.ANY, "application/*"):
            return default
        if media_type == "image/*":
            return content_types.JPEG
    raise UnsupportedAccept(
        f"Accept {accept!r} is not supported; ask for one of "
        + ", ".join(content_types.RESPONSE_TYPES)
    )


def media_ranges(accept: str) -> list[tuple[str, float]]:
    """``'a/b;q=0.5, c/d'`` -> ``[('a/b', 0.5), ('c/d', 1.0)]``, in the header's order."""
    ranges = []
    for candidate in accept.split(","):
        media_type, *parameters = (part.strip() for part in candidate.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
                # an unreadable preference (``nan``, ``x``) is no preference for this range
                quality = min(max(quality, 0.0), 1.0) if math.isfinite(quality) else 0.0
        if media_type:
            ranges.append((media_type.lower(), quality))
    return ranges


def document(detections: list, model_name: str, image_size: tuple[int, int]) -> dict:
    width, height = image_size
    return {
        "model": model_name,
        "image": {"width": width, "height": height},
        "detections": [detection.to_dict() for detection in detections],
    }


def encode(detections: list, media_type: str, model_name: str, image: np.ndarray) -> bytes:
    """Response body for ``media_type`` (already negotiated); ``image`` is the HxWx3 input."""
    image_size = (image.shape[1], image.shape[0])
    if media_type == content_types.JSON:
        return json.dumps(document(detections, model_name, image_size)).encode()
    if media_type == content_types.JSONLINES:
        return json.dumps(document(detections, model_name, image_size)).encode() + b"\n"
    if media_type == content_types.NPY:
        return to_npy(detections)
    if media_type in (content_types.JPEG, content_types.PNG):
        return draw(detections, image, "JPEG" if media_type == content_types.JPEG else "PNG")
    raise UnsupportedAccept(f"cannot encode {media_type!r}")


def to_npy(detections: list) -> bytes:
    rows = np.array([(d.class_id, d.score, *d.box) for d in detections], dtype=np.float32).reshape(
        -1, 6
    )
    buffer = io.BytesIO()
    np.save(buffer, rows, allow_pickle=False)
    return buffer.getvalue()


def draw(detections: list, image: np.ndarray, image_format: str) -> bytes:
    """The image with each detection's box and ``label score`` drawn on it."""
    picture = Image.fromarray(image)
    pen = ImageDraw.Draw(picture)
    font = ImageFont.load_default()
    line_width = max(2, round(min(picture.size) / 200))
    for detection in detections:
        colour = PALETTE[detection.class_id % len(PALETTE)]
        pen.rectangle(detection.box, outline=colour, width=line_width)
        caption = f"{detection.label} {detection.score:.2f}"
        left, top = detection.box[0], max(0.0, detection.box[1] - 12)
        text_box = pen.textbbox((left, top), caption, font=font)
        pen.rectangle(text_box, fill=colour)
        pen.text((left, top), caption, fill=(0, 0, 0), font=font)
    buffer = io.BytesIO()
    # full-resolution colour (4:4:4): chroma subsampling smears two-pixel coloured lines
    options = {"quality": 90, "subsampling": 0} if image_format == "JPEG" else {}
    picture.save(buffer, format=image_format, **options)
    return buffer.getvalue()
