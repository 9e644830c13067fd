"""Preprocess: HxWx3 uint8 RGB -> the 1x3xH'xW' float32 tensor the network takes.

Two ways to size the input, as GluonCV has them, chosen per endpoint or per request (a *mode*):

- ``aspect`` (the default): GluonCV's ``presets.yolo.transform_test``, as its ``load_test`` and
  this project's seed use. Shorter side to ``short`` unless the longer side would pass
  ``max_size``, aspect kept, bicubic resize.
- ``squareN``: GluonCV's ``YOLO3DefaultValTransform(N, N)``, the input its published COCO
  figures were measured on. Stretched to NxN; cubic when enlarging, area when shrinking,
  bilinear otherwise. Fewer pixels on wide photos, so cheaper.

Both then scale to [0, 1] and normalise with ImageNet mean and std.
"""

import mxnet as mx
import numpy as np

from inference.errors import InvalidParameter

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
BILINEAR, BICUBIC, AREA = 1, 2, 3
ASPECT = "aspect"
SQUARE_SIDES = (320, 416, 608)  # the sizes GluonCV published COCO AP for
MODES = (ASPECT, *(f"square{side}" for side in SQUARE_SIDES))


def check_mode(mode: str) -> str:
    """``mode`` if it is one of ``MODES``; a 400 otherwise."""
    if mode not in MODES:
        raise InvalidParameter(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


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
    """(height, width) of the network input for an image of ``height`` x ``width`` in ``mode``."""
    if mode == ASPECT:
        return resized_shape(height, width, short, max_size)
    side = int(check_mode(mode).removeprefix("square"))
    return side, side


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
    ctx: mx.Context | None = None,
) -> mx.nd.NDArray:
    """Network input for ``image``; its spatial size is ``input_shape(*image.shape[:2], mode)``."""
    height, width = input_shape(image.shape[0], image.shape[1], mode, short, max_size)
    pixels = mx.nd.array(image, dtype="uint8")
    if (height, width) != image.shape[:2]:
        interp = BICUBIC if mode == ASPECT else interpolation(*image.shape[:2], height, width)
        pixels = mx.image.imresize(pixels, width, height, interp=interp)
    tensor = mx.nd.image.normalize(mx.nd.image.to_tensor(pixels), mean=mean, std=std)
    tensor = tensor.expand_dims(0)
    return tensor.as_in_context(ctx) if ctx is not None else tensor
