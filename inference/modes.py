"""The ways an image can be sized for the network (see ``preprocess``), named in one light
module that the command line reads without importing MXNet."""

from inference.errors import InvalidParameter

ASPECT, EXACT = "aspect", "exact"
SQUARE_SIDES = (320, 416, 608)  # the sizes GluonCV published COCO AP for
MODES = (ASPECT, EXACT, *(f"square{side}" for side in SQUARE_SIDES))


def check_mode(mode: str) -> str:
    """``mode`` if it is one of ``MODES``; a 400 otherwise."""
    if mode not in MODES:
        raise InvalidParameter(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode
