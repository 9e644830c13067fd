"""How far the default mode (``aspect``: the resized image on a bucket canvas) moves from
GluonCV's own pipeline (``exact``: ``load_test``, no canvas), on real photographs.

Each photograph is detected both ways by the same network in this process; the ``exact``
detections are the reference. Per photograph: whether it was padded at all, how many detections
agree to the tests' tolerance (same class, score within 1e-4, box within 0.5 px), and, as the
INT8 agreement is measured (``scripts/lib/agreement``), detections matched at IoU 0.5, mAP@0.5,
the largest score difference and the largest box-corner shift between matched pairs.
"""

from typing import Any

import numpy as np

from inference import decode, postprocess, preprocess
from inference.model import Detector
from inference.params import RequestParams
from scripts.lib.archives import agreement
from scripts.lib.bench import images

SCORE_TOLERANCE, BOX_TOLERANCE = 1e-4, 0.5


def photographs(photo: str | None = None, quick: bool = False) -> dict[str, np.ndarray]:
    """Real photographs of several proportions: scikit-image's, and the benchmark's photo in
    sizes that land on a bucket and sizes that do not (``quick``: two of them)."""
    import skimage.data

    found = {
        "astronaut 512x512": skimage.data.astronaut(),
        "coffee 600x400": skimage.data.coffee(),
        "chelsea 451x300": skimage.data.chelsea(),
        "motorcycle 741x500": skimage.data.stereo_motorcycle()[0],
        "rocket 427x640": skimage.data.rocket(),
    }
    source = images.load_photo(photo)
    for width, height in ((768, 576), (1000, 700), (640, 500), (1280, 600), (500, 900)):
        body = images.jpeg(source, (width, height))
        found[f"photo {width}x{height}"] = decode.decode_image(body)
    if quick:
        return {name: found[name] for name in ("motorcycle 741x500", "photo 768x576")}
    return found


def detect(detector: Detector, image: np.ndarray, mode: str) -> list[postprocess.Detection]:
    metadata = detector.metadata
    tensor = preprocess.to_tensor(image, mode, ctx=detector.ctx, **metadata.preprocessing)
    ids, scores, boxes = (output.asnumpy() for output in detector(tensor))
    height, width = preprocess.input_shape(
        image.shape[0], image.shape[1], mode, metadata.short, metadata.max_size
    )
    return postprocess.to_detections(
        ids,
        scores,
        boxes,
        input_size=(width, height),
        image_size=(image.shape[1], image.shape[0]),
        labels=metadata.classes,
        params=RequestParams(threshold=0.0, max_detections=metadata.post_nms, mode=mode),
        suppression=metadata.suppression,
    )


def within_tolerance(one: postprocess.Detection, other: postprocess.Detection) -> bool:
    return bool(
        one.class_id == other.class_id
        and abs(one.score - other.score) <= SCORE_TOLERANCE
        and np.abs(np.subtract(one.box, other.box)).max() <= BOX_TOLERANCE
    )


def compare(
    detector: Detector, photos: dict[str, np.ndarray], top: int = 20
) -> dict[str, dict[str, Any]]:
    """Per photograph, the default mode's ``top`` detections against the exact mode's."""
    rows = {}
    metadata = detector.metadata
    for name, image in photos.items():
        height, width = image.shape[:2]
        content = preprocess.input_shape(height, width, "exact", metadata.short)
        canvas = preprocess.canvas_shape(
            height, width, buckets=metadata.buckets, short=metadata.short
        )
        exact = detect(detector, image, preprocess.EXACT)[:top]
        default = detect(detector, image, preprocess.ASPECT)[:top]
        pairs = agreement.matches(exact, default)
        rows[name] = {
            "content": f"{content[1]}x{content[0]}",
            "canvas": f"{canvas[1]}x{canvas[0]}",
            "padded": bool(canvas != content),
            "same_within_tolerance": sum(
                bool(within_tolerance(one, other))
                for one, other in zip(exact, default, strict=False)
            ),
            "compared": len(exact),
            "matched": len(pairs),
            "map50": agreement.mean_average_precision([exact], [default]),
            "max_score_difference": max(
                (abs(exact[i].score - default[j].score) for i, j in pairs), default=0.0
            ),
            "max_box_shift_px": max(
                (float(np.abs(np.subtract(exact[i].box, default[j].box)).max()) for i, j in pairs),
                default=0.0,
            ),
        }
    return rows
