"""How closely a quantized model agrees with the FP32 one it was made from.

The FP32 model's detections are the reference ("ground truth"); the INT8 model's are scored
against them as a detector is scored against annotations: a detection matches a reference one of
the same class whose box overlaps it by an IoU of at least 0.5, each reference matched once, best
scores first. From that: detections matched per image, mAP@0.5 (VOC's all-point average precision
per class, averaged over the classes the reference has), and the largest score difference between
matched pairs. Apart from detections, the signal-to-quantization-noise ratio (SQNR) compares the
raw output maps: 10 log10(sum of the FP32 values squared / sum of the differences squared), in dB.

With random weights these figures say nothing about accuracy on COCO; with real weights they tell
what INT8 costs on the images given.
"""

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.postprocess import Detection

IOU_THRESHOLD = 0.5


def iou(box: Sequence[float], boxes: Sequence[Sequence[float]]) -> npt.NDArray[np.float64]:
    """Intersection over union of ``box`` (xmin, ymin, xmax, ymax) with each row of ``boxes``."""
    rows = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    one = np.asarray(box, dtype=np.float64)
    left = np.maximum(one[0], rows[:, 0])
    top = np.maximum(one[1], rows[:, 1])
    right = np.minimum(one[2], rows[:, 2])
    bottom = np.minimum(one[3], rows[:, 3])
    overlap = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    area = (one[2] - one[0]) * (one[3] - one[1])
    areas = (rows[:, 2] - rows[:, 0]) * (rows[:, 3] - rows[:, 1])
    union = area + areas - overlap
    return np.divide(overlap, union, out=np.zeros_like(union), where=union > 0)


def matches(
    reference: Sequence[Detection],
    candidate: Sequence[Detection],
    iou_threshold: float = IOU_THRESHOLD,
) -> list[tuple[int, int]]:
    """Pairs (reference index, candidate index): candidates best score first, each reference once.

    ``reference`` and ``candidate`` are sequences of detections with ``class_id``, ``score`` and
    ``box``.
    """
    taken: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for index in sorted(range(len(candidate)), key=lambda i: -candidate[i].score):
        found = candidate[index]
        same_class = [
            i for i, d in enumerate(reference) if d.class_id == found.class_id and i not in taken
        ]
        if not same_class:
            continue
        overlaps = iou(found.box, [reference[i].box for i in same_class])
        best = int(np.argmax(overlaps))
        if overlaps[best] >= iou_threshold:
            taken.add(same_class[best])
            pairs.append((same_class[best], index))
    return pairs


def average_precision(hits: Sequence[bool], reference_count: int) -> float:
    """VOC's all-point AP of detections already sorted best first (``hits``: True if matched)."""
    if reference_count == 0:
        return float("nan")
    matched = np.asarray(hits, dtype=bool)
    if matched.size == 0:
        return 0.0
    true_positives = np.cumsum(matched)
    precision = true_positives / np.arange(1, matched.size + 1)
    recall = true_positives / reference_count
    # precision made monotone from the right, integrated over the recall steps
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.diff(np.concatenate(([0.0], recall)))
    return float(np.sum(steps * precision))


def mean_average_precision(
    references: Sequence[Sequence[Detection]],
    candidates: Sequence[Sequence[Detection]],
    iou_threshold: float = IOU_THRESHOLD,
) -> float:
    """mAP over images: ``references[i]`` and ``candidates[i]`` are image i's detections.

    NaN when the references hold no detection at all.
    """
    classes = {d.class_id for image in references for d in image}
    if not classes:
        return math.nan  # nothing to find: no measure of agreement
    precisions = []
    for class_id in sorted(classes):
        scored: list[tuple[float, bool]] = []  # (score, matched) over every image
        count = 0
        for reference, candidate in zip(references, candidates, strict=True):
            ours = [d for d in reference if d.class_id == class_id]
            theirs = [d for d in candidate if d.class_id == class_id]
            count += len(ours)
            matched = {c for _, c in matches(ours, theirs, iou_threshold)}
            scored += [(d.score, i in matched) for i, d in enumerate(theirs)]
        scored.sort(key=lambda pair: -pair[0])
        precisions.append(average_precision([hit for _, hit in scored], count))
    return float(np.mean(precisions))


@dataclasses.dataclass(frozen=True)
class ImageAgreement:
    name: str
    reference: int  # FP32 detections
    candidate: int  # INT8 detections
    matched: int
    max_score_difference: float
    average_precision: float  # mAP@0.5 on this image alone
    sqnr_db: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


Maps = Sequence[npt.ArrayLike]  # a network's raw output maps


def compare_image(
    name: str,
    reference: Sequence[Detection],
    candidate: Sequence[Detection],
    reference_maps: Maps,
    candidate_maps: Maps,
    threshold: float = 0.0,
) -> ImageAgreement:
    """One image: the reference's detections at or above ``threshold`` against every candidate.

    Candidates are not cut at the threshold: one scored just under it still matches, as a
    detector's low-scored detections count in its mAP.
    """
    kept = [d for d in reference if d.score >= threshold]
    pairs = matches(kept, candidate)
    differences = [abs(kept[r].score - candidate[c].score) for r, c in pairs]
    return ImageAgreement(
        name=name,
        reference=len(kept),
        candidate=sum(d.score >= threshold for d in candidate),
        matched=len(pairs),
        max_score_difference=max(differences, default=0.0),
        average_precision=mean_average_precision([kept], [candidate]),
        sqnr_db=sqnr(reference_maps, candidate_maps),
    )


def sqnr(reference_maps: Maps, candidate_maps: Maps) -> float:
    """Signal-to-quantization-noise ratio in dB over all the maps; inf when they are equal."""
    signal = sum(float(np.sum(np.square(np.asarray(m, np.float64)))) for m in reference_maps)
    noise = sum(
        float(np.sum(np.square(np.asarray(r, np.float64) - np.asarray(c, np.float64))))
        for r, c in zip(reference_maps, candidate_maps, strict=True)
    )
    if noise == 0:
        return math.inf
    return 10 * math.log10(signal / noise)


def summary(
    images: Sequence[ImageAgreement],
    references: Sequence[Sequence[Detection]],
    candidates: Sequence[Sequence[Detection]],
    threshold: float = 0.0,
) -> dict[str, Any]:
    """The totals over ``images`` (``ImageAgreement``s) and the detections behind them."""
    kept = [[d for d in image if d.score >= threshold] for image in references]
    total = sum(image.reference for image in images)
    return {
        "images": len(images),
        "reference_detections": total,
        "candidate_detections": sum(image.candidate for image in images),
        "matched": sum(image.matched for image in images),
        "matched_share": sum(image.matched for image in images) / total if total else 1.0,
        "map50": mean_average_precision(kept, candidates),
        "max_score_difference": max((i.max_score_difference for i in images), default=0.0),
        "sqnr_db": min((i.sqnr_db for i in images), default=math.inf),
    }


def recorded(
    images: Sequence[ImageAgreement],
    totals: dict[str, Any],
    threshold: float,
    reference: str = "the FP32 network of the same weights",
) -> dict[str, Any]:
    """The agreement as ``model.json`` records it."""
    return {
        "reference": reference,
        "threshold": threshold,
        "totals": {key: finite(value) for key, value in totals.items()},
        "images": [
            {key: finite(value) for key, value in image.to_dict().items()} for image in images
        ],
    }


def table(
    images: Sequence[ImageAgreement],
    totals: dict[str, Any],
    reference: str = "FP32",
    candidate: str = "INT8",
    sqnr: bool = True,
    item: str = "image",
) -> str:
    """The agreement as the terminal shows it: one line per image (or other ``item``) and the
    total; the SQNR column only where raw output maps were compared."""
    columns = f"{item:<28}{reference[:8]:>9}{candidate[:8]:>9}{'matched':>9}{'mAP@0.5':>9}"
    lines = [columns + f"{'max |score|':>13}" + (f"{'SQNR dB':>9}" if sqnr else "")]
    rows = [
        (
            image.name,
            image.reference,
            image.candidate,
            image.matched,
            image.average_precision,
            image.max_score_difference,
            image.sqnr_db,
        )
        for image in images
    ]
    rows.append(
        (
            "total",
            totals["reference_detections"],
            totals["candidate_detections"],
            totals["matched"],
            totals["map50"],
            totals["max_score_difference"],
            totals["sqnr_db"],
        )
    )
    for name, reference_count, candidate_count, matched, ap, difference, noise in rows:
        line = f"{name[:27]:<28}{reference_count:>9}{candidate_count:>9}{matched:>9}"
        line += f"{shown(ap, 3):>9}{difference:>13.4f}"
        lines.append(line + (f"{noise:>9.1f}" if sqnr else ""))
    lines.append(
        f"({reference}, {candidate}: detections scoring the threshold or more; matched: "
        f"{reference}'s paired with a {candidate} detection of the same class at IoU 0.5 or more, "
        "whatever the latter's score)"
    )
    return "\n".join(lines)


def shown(value: float, digits: int) -> str:
    """``value`` to ``digits`` places; n/a when there was nothing to measure (NaN)."""
    return "n/a" if isinstance(value, float) and math.isnan(value) else f"{value:.{digits}f}"


def finite(value: object) -> object:
    """JSON has neither infinity nor NaN: no noise, or nothing to compare, is recorded as null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value
