"""Preprocess: HxWx3 uint8 RGB -> the 1x3xH'xW' float32 tensor the network takes.

The same arithmetic as GluonCV's ``presets.yolo.transform_test``: shorter side to ``short`` unless
the longer side would pass ``max_size``, bicubic resize (OpenCV, through MXNet), scale to [0, 1],
normalise with ImageNet mean and std.
"""

import mxnet as mx
import numpy as np

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
BICUBIC = 2


def resized_shape(height, width, short=416, max_size=1024):
    """(height, width) after resizing the shorter side to ``short`` within ``max_size``."""
    scale = short / min(height, width)
    if np.round(scale * max(height, width)) > max_size:
        scale = max_size / max(height, width)
    return int(np.round(height * scale)), int(np.round(width * scale))


def to_tensor(image, short=416, max_size=1024, mean=MEAN, std=STD, ctx=None):
    """Network input for ``image``; its spatial size is ``resized_shape(*image.shape[:2])``."""
    height, width = resized_shape(image.shape[0], image.shape[1], short, max_size)
    pixels = mx.nd.array(image, dtype="uint8")
    if (height, width) != image.shape[:2]:
        pixels = mx.image.imresize(pixels, width, height, interp=BICUBIC)
    tensor = mx.nd.image.normalize(mx.nd.image.to_tensor(pixels), mean=mean, std=std)
    tensor = tensor.expand_dims(0)
    return tensor.as_in_context(ctx) if ctx is not None else tensor
