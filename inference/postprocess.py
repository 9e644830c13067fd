"""Postprocess: raw network outputs -> detections in the original image's pixels.

The exported network already ran non-maximum suppression; what is left is to drop its -1
padding, apply the request's threshold and class filter, keep the best ``max_detections``, and map
boxes from the resized input back to the image the client sent, clipped to its borders.
"""

import dataclasses

import numpy as np

from inference.errors import InvalidParameter
from inference.params import RequestParams


@dataclasses.dataclass(frozen=True)
class Detection:
    class_id: int
    label: str
    score: float
    box: tuple  # (xmin, ymin, xmax, ymax) in original image pixels

    def to_dict(self) -> dict:
        xmin, ymin, xmax, ymax = self.box
        return {
            "class_id": self.class_id,
            "label": self.label,
            "score": round(self.score, 6),
            "box": {
                "xmin": round(xmin, 2),
                "ymin": round(ymin, 2),
                "xmax": round(xmax, 2),
                "ymax": round(ymax, 2),
            },
        }


def class_ids_for(names: tuple[str, ...], labels: tuple[str, ...]) -> list[int]:
    """Class ids for the label ``names`` a request filters on; unknown names are refused."""
    index = {label: class_id for class_id, label in enumerate(labels)}
    unknown = [name for name in names if name not in index]
    if unknown:
        raise InvalidParameter(
            f"unknown class name(s) {', '.join(unknown)}; this model knows "
            + ", ".join(labels[:10])
            + (", ..." if len(labels) > 10 else "")
        )
    return [index[name] for name in names]


def to_detections(
    ids: np.ndarray,
    scores: np.ndarray,
    boxes: np.ndarray,
    input_size: tuple[int, int],
    image_size: tuple[int, int],
    labels: tuple[str, ...],
    params: RequestParams,
) -> list[Detection]:
    """Detections sorted by score, best first.

    ``ids``, ``scores``: N (or 1xNx1) arrays; ``boxes``: Nx4 in the network input's pixels;
    ``input_size`` and ``image_size``: (width, height) of the network input and of the image.
    """
    ids = np.asarray(ids).reshape(-1).astype(np.int64)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    keep = (ids >= 0) & (scores.astype(np.float64) >= params.threshold)  # no float32 rounding
    if params.classes:
        keep &= np.isin(ids, class_ids_for(params.classes, labels))
    ids, scores, boxes = ids[keep], scores[keep], boxes[keep]
    order = np.argsort(-scores, kind="stable")[: params.max_detections]
    ids, scores, boxes = ids[order], scores[order], boxes[order]

    (input_width, input_height), (width, height) = input_size, image_size
    scale = np.array([width / input_width, height / input_height] * 2, dtype=np.float64)
    limit = np.array([width, height] * 2, dtype=np.float64)
    boxes = np.clip(boxes.astype(np.float64) * scale, 0.0, limit)
    return [
        Detection(
            int(class_id),
            labels[class_id] if class_id < len(labels) else str(class_id),
            float(score),
            tuple(float(v) for v in box),
        )
        for class_id, score, box in zip(ids, scores, boxes, strict=True)
    ]
