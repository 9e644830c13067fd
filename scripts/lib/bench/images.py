"""The benchmark's images: one photograph as JPEGs of the sizes cameras and phones send."""

import io
import os
from collections.abc import Iterable

from PIL import Image, ImageOps

SIZES = ((640, 480), (768, 576), (1920, 1080))
QUALITY = 90


def load_photo(path: str | None = None) -> Image.Image:
    """The photograph at ``path`` (upright) or, without one, scikit-image's cat."""
    if path:
        with Image.open(path) as image:
            return ImageOps.exif_transpose(image).convert("RGB")
    import skimage.data

    return Image.fromarray(skimage.data.chelsea())


def jpeg(photo: Image.Image, size: tuple[int, int], quality: int = QUALITY) -> bytes:
    """``photo`` resized to ``size`` (width, height), as JPEG bytes."""
    buffer = io.BytesIO()
    photo.resize(size, Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def write_images(
    photo_path: str | None, sizes: Iterable[tuple[int, int]], directory: str
) -> dict[str, str]:
    """{label: path} of the JPEGs for ``sizes``; the photograph's own file where sizes match."""
    photo = load_photo(photo_path)
    os.makedirs(directory, exist_ok=True)
    paths = {}
    for width, height in sizes:
        label = f"{width}x{height}"
        path = os.path.join(directory, f"{label}.jpg")
        if photo_path and photo.size == (width, height):
            with open(photo_path, "rb") as source:
                body = source.read()
        else:
            body = jpeg(photo, (width, height))
        with open(path, "wb") as file:
            file.write(body)
        paths[label] = path
    return paths
