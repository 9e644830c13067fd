"""Encode: detections -> response bytes in the media type the client accepts.

JSON (one document), JSON Lines (the same document on one line, for batch transform), NPY (an
Nx6 float32 array of class_id, score, xmin, ymin, xmax, ymax), COCO's results list (``coco``), or
the input image as JPEG/PNG with the boxes and labels drawn on it, so a browser or Postman shows
the picture. Boxes are in the image's pixels, or fractions of its sides with
``coordinates=normalized`` (COCO results and drawn pictures are always in pixels). A batch's
answer (``encode_batch``) is ``{"results": [...]}`` in JSON, a line per image in JSON Lines, or
one COCO list, each image's entry its document or its own error.
"""

import io
import json
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from inference import coco, content_types
from inference.errors import RequestError, UnsupportedAccept
from inference.params import NORMALIZED, PIXELS

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


def document(
    detections: list,
    model_name: str,
    image_size: tuple[int, int],
    coordinates: str = PIXELS,
    precision: str = "",
) -> dict:
    width, height = image_size
    scale = image_size if coordinates == NORMALIZED else None
    return {
        "model": model_name,
        **({"precision": precision} if precision else {}),
        "image": {"width": width, "height": height},
        "detections": [detection.to_dict(scale) for detection in detections],
    }


def encode(
    detections: list,
    media_type: str,
    model_name: str,
    image: np.ndarray,
    *,
    coordinates: str = PIXELS,
    image_id: int = 0,
    labels: tuple[str, ...] = (),
    precision: str = "",
) -> bytes:
    """Response body for ``media_type`` (already negotiated); ``image`` is the HxWx3 input,
    ``image_id`` and ``labels`` (the model's classes) what COCO results need, ``precision`` the
    model's, said beside its name."""
    image_size = (image.shape[1], image.shape[0])
    if media_type in (content_types.JSON, content_types.JSONLINES):
        text = json.dumps(document(detections, model_name, image_size, coordinates, precision))
        return text.encode() + (b"\n" if media_type == content_types.JSONLINES else b"")
    if media_type == content_types.COCO:
        return json.dumps(coco.results(detections, image_id, labels)).encode()
    if media_type == content_types.NPY:
        return to_npy(detections, image_size if coordinates == NORMALIZED else None)
    if media_type in (content_types.JPEG, content_types.PNG):
        return draw(detections, image, "JPEG" if media_type == content_types.JPEG else "PNG")
    raise UnsupportedAccept(f"cannot encode {media_type!r}")


def check_batch_type(media_type: str) -> None:
    """A batch is answered in text: a 406 for any other type, before any work."""
    if media_type not in content_types.BATCH_RESPONSE_TYPES:
        raise UnsupportedAccept(
            f"a batch is answered in {', '.join(content_types.BATCH_RESPONSE_TYPES)}, "
            f"not {media_type}; send its images one by one for that"
        )


def encode_batch(answers: list[bytes | RequestError], media_type: str) -> bytes:
    """A batch's body from each image's own (``encode``'s bytes in ``media_type``, or the
    error that image met), in the request's order."""
    parts = [
        json.dumps(answer.to_dict()).encode() if isinstance(answer, RequestError) else answer
        for answer in answers
    ]
    if media_type == content_types.JSONLINES:
        return b"".join(part if part.endswith(b"\n") else part + b"\n" for part in parts)
    if media_type == content_types.COCO:  # errors have no place in COCO's list: only results
        lists = [json.loads(part) for part in parts]
        return json.dumps(
            [row for rows in lists if isinstance(rows, list) for row in rows]
        ).encode()
    return b'{"results": [' + b", ".join(parts) + b"]}"


def to_npy(detections: list, image_size: tuple[int, int] | None = None) -> bytes:
    """Nx6 float32 rows; boxes as fractions of the image's sides when ``image_size`` is given."""
    rows = np.array([(d.class_id, d.score, *d.box) for d in detections], dtype=np.float32).reshape(
        -1, 6
    )
    if image_size is not None:
        rows[:, 2:] /= np.array(image_size * 2, dtype=np.float32)
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
