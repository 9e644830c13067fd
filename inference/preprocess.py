"""Preprocess: HxWx3 uint8 RGB -> the 1x3xH'xW' float32 tensor the network takes.

Three ways to size the input, chosen per endpoint or per request (a *mode*):

- ``aspect`` (the default): resized as GluonCV's ``presets.yolo.transform_test`` resizes (shorter
  side to ``short`` unless the longer side would pass ``max_size``, aspect kept, bicubic), then
  placed at the top left of the smallest *bucket* canvas that holds it: ``short`` by one of a few
  long sides (``buckets``), the rest filled with the mean colour, as GluonCV's training pads
  images (``random_expand``). The network sees a bounded set of input shapes, so a server's
  memory stays bounded and every shape can be prepared when the model loads; photos of the
  common camera proportions (4:3, 3:2, 16:9, 1:1) land on a bucket exactly and are not padded.
- ``exact``: GluonCV's ``transform_test`` and nothing else, as its ``load_test`` prepares an
  image: every proportion its own input shape.
- ``squareN``: GluonCV's ``YOLO3DefaultValTransform(N, N)``, the input its published COCO
  figures were measured on. Stretched to NxN; cubic when enlarging, area when shrinking,
  bilinear otherwise. Fewer pixels on wide photos, so cheaper.

All then scale to [0, 1] and normalise with ImageNet mean and std; the boxes are mapped back
through the resized image, whatever canvas it was placed on.
"""

import bisect

import mxnet as mx
import numpy as np

from inference.modes import ASPECT, EXACT, MODES, SQUARE_SIDES, check_mode

__all__ = ["ASPECT", "EXACT", "MODES", "SQUARE_SIDES", "check_mode"]  # and the functions below

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
BILINEAR, BICUBIC, AREA = 1, 2, 3
# the long sides of the aspect mode's canvases: 416 for square photos, then 4:3 (555), 3:2 (624),
# 16:9 (740) exactly, and steps between (docs/PERFORMANCE.md measures the choice). An INT8
# network keeps one compiled graph per canvas (about 130 MiB each), a BF16 one oneDNN's weights
# laid out for each (about 145 MiB each, measured with AMX), so they take fewer.
BUCKETS = (416, 480, 555, 624, 740, 864, 1024)
LOWER_PRECISION_BUCKETS = (416, 555, 624, 740, 1024)


def resized_shape(
    height: int, width: int, short: int = 416, max_size: int = 1024
) -> tuple[int, int]:
    """(height, width) after resizing the shorter side to ``short`` within ``max_size``."""
    scale = short / min(height, width)
    if np.round(scale * max(height, width)) > max_size:
        scale = max_size / max(height, width)
    return int(np.round(height * scale)), int(np.round(width * scale))


def input_shape(
    height: int, width: int, mode: str = ASPECT, short: int = 416, max_size: int = 1024
) -> tuple[int, int]:
    """(height, width) of the image resized for the network in ``mode``, before any canvas."""
    if mode in (ASPECT, EXACT):
        return resized_shape(height, width, short, max_size)
    side = int(check_mode(mode).removeprefix("square"))
    return side, side


def canvas_shape(
    height: int,
    width: int,
    mode: str = ASPECT,
    short: int = 416,
    max_size: int = 1024,
    buckets: tuple = BUCKETS,
) -> tuple[int, int]:
    """(height, width) of the tensor the network takes for an image of ``height`` x ``width``:
    in ``aspect`` mode the bucket canvas that holds the resized image, else the resized image."""
    content = input_shape(height, width, mode, short, max_size)
    if mode != ASPECT:
        return content
    long_side = buckets[bisect.bisect_left(buckets, max(content))]
    return (short, long_side) if content[0] <= content[1] else (long_side, short)


def canvas_shapes(
    mode: str = ASPECT, short: int = 416, max_size: int = 1024, buckets: tuple = BUCKETS
) -> tuple[tuple[int, int], ...]:
    """Every input shape ``mode`` gives the network, whatever the image; empty for ``exact``,
    whose shapes are as many as the proportions of images."""
    if mode == EXACT:
        return ()
    if mode != ASPECT:
        return (input_shape(short, short, mode),)
    return tuple(sorted({(short, side) for side in buckets} | {(side, short) for side in buckets}))


def check_buckets(buckets: tuple, short: int = 416, max_size: int = 1024) -> tuple:
    """``buckets`` if they are increasing long sides from ``short`` to at least ``max_size``."""
    buckets = tuple(int(side) for side in buckets)
    if (
        not buckets
        or buckets[0] != short
        or buckets[-1] < max_size
        or list(buckets) != sorted(set(buckets))
    ):
        raise ValueError(
            f"buckets must be increasing long sides from {short} (the short side) to at least "
            f"{max_size} (the longest side), got {list(buckets)}"
        )
    return buckets


def interpolation(height: int, width: int, new_height: int, new_width: int) -> int:
    """GluonCV's evaluation rule: cubic to enlarge, area to shrink, bilinear when mixed."""
    if new_height > height and new_width > width:
        return BICUBIC
    if new_height < height and new_width < width:
        return AREA
    return BILINEAR


def to_tensor(
    image: np.ndarray,
    mode: str = ASPECT,
    short: int = 416,
    max_size: int = 1024,
    mean: tuple = MEAN,
    std: tuple = STD,
    buckets: tuple = BUCKETS,
    ctx: mx.Context | None = None,
) -> mx.nd.NDArray:
    """Network input for ``image``: the image resized to ``input_shape(...)``, on a canvas of
    ``canvas_shape(...)`` (the same in every mode but ``aspect``)."""
    height, width = input_shape(image.shape[0], image.shape[1], mode, short, max_size)
    pixels = mx.nd.array(image, dtype="uint8")
    if (height, width) != image.shape[:2]:
        keeps_aspect = mode in (ASPECT, EXACT)
        interp = (
            BICUBIC
            if keeps_aspect
            else interpolation(image.shape[0], image.shape[1], height, width)
        )
        pixels = mx.image.imresize(pixels, width, height, interp=interp)
    tensor = mx.nd.image.normalize(mx.nd.image.to_tensor(pixels), mean=mean, std=std)
    tensor = tensor.expand_dims(0)
    canvas_height, canvas_width = canvas_shape(
        image.shape[0], image.shape[1], mode, short, max_size, buckets
    )
    if (canvas_height, canvas_width) != (height, width):
        # zero after normalising is the mean colour: the fill GluonCV trains with
        tensor = mx.nd.pad(
            tensor,
            mode="constant",
            constant_value=0.0,
            pad_width=(0, 0, 0, 0, 0, canvas_height - height, 0, canvas_width - width),
        )
    return tensor.as_in_context(ctx) if ctx is not None else tensor
