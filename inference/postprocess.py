"""Postprocess: raw network outputs -> detections in the original image's pixels.

The network gives its ``nms_topk`` best candidates, best first; postprocessing runs greedy
per-class non-maximum suppression over them (``suppress``; archives packaged before it ran in the
graph, which then pads with -1 rows), drops the padding, applies the request's threshold and
class filter, keeps the best ``max_detections``, and maps boxes from the resized input back to
the image the client sent, clipped to its borders.
"""

import dataclasses

import numpy as np

from inference.errors import InvalidParameter
from inference.metadata import Suppression
from inference.params import RequestParams


@dataclasses.dataclass(frozen=True)
class Detection:
    class_id: int
    label: str
    score: float
    box: tuple  # (xmin, ymin, xmax, ymax) in original image pixels

    def to_dict(self, image_size: tuple[int, int] | None = None) -> dict:
        """The detection as the answer gives it: its box in pixels, or as fractions of the
        image's width and height when ``image_size`` (width, height) is given."""
        xmin, ymin, xmax, ymax = self.box
        if image_size is None:
            scale, digits = (1.0, 1.0), 2
        else:
            scale, digits = (1.0 / image_size[0], 1.0 / image_size[1]), 6
        return {
            "class_id": self.class_id,
            "label": self.label,
            "score": round(self.score, 6),
            "box": {
                "xmin": round(xmin * scale[0], digits),
                "ymin": round(ymin * scale[1], digits),
                "xmax": round(xmax * scale[0], digits),
                "ymax": round(ymax * scale[1], digits),
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


def suppress(
    ids: np.ndarray, scores: np.ndarray, boxes: np.ndarray, suppression: Suppression
) -> np.ndarray:
    """Indices of the candidates greedy per-class NMS keeps, best first, at most
    ``suppression.keep``: as MXNet's ``box_nms`` keeps them (a candidate scoring more than the
    valid threshold survives unless a better one of its class that survived overlaps it by more
    than the threshold, intersection over union in float32)."""
    order = np.argsort(-scores, kind="stable")
    order = order[scores[order] > suppression.valid_threshold][: suppression.topk]
    classes, (left, top, right, bottom) = ids[order], boxes[order].T
    zero = np.float32(0)
    width = np.maximum(
        zero, np.minimum(right[:, None], right[None]) - np.maximum(left[:, None], left[None])
    )
    height = np.maximum(
        zero, np.minimum(bottom[:, None], bottom[None]) - np.maximum(top[:, None], top[None])
    )
    overlap = width * height
    areas = (right - left) * (bottom - top)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = overlap / (areas[:, None] + areas[None] - overlap)
    # suppresses[i, j]: i, if it survives, removes j (a later candidate of its class)
    suppresses = np.triu((iou > suppression.threshold) & (classes[:, None] == classes[None]), 1)
    kept = np.ones(len(order), dtype=bool)
    for index in range(len(order)):
        if kept[index]:
            kept &= ~suppresses[index]
    return order[kept][: suppression.keep]


def to_detections(
    ids: np.ndarray,
    scores: np.ndarray,
    boxes: np.ndarray,
    input_size: tuple[int, int],
    image_size: tuple[int, int],
    labels: tuple[str, ...],
    params: RequestParams,
    suppression: Suppression | None = None,
) -> list[Detection]:
    """Detections sorted by score, best first.

    ``ids``, ``scores``: N (or 1xNx1) arrays; ``boxes``: Nx4 in the network input's pixels;
    ``input_size`` and ``image_size``: (width, height) of the network input and of the image;
    ``suppression``: how to run NMS, or None when the network ran it.
    """
    ids = np.asarray(ids).reshape(-1).astype(np.int64)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    if suppression is not None:
        kept = suppress(ids, scores, boxes, suppression)
        ids, scores, boxes = ids[kept], scores[kept], boxes[kept]
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
