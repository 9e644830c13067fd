"""mAP by pycocotools' own evaluation, the library every COCO figure comes from."""

import contextlib
import dataclasses
import io
from typing import Any

import numpy as np

from scripts.lib.errors import CommandError
from scripts.lib.evaluation.annotations import LabelledSet

IOU_50 = 0  # COCOeval's first IoU threshold is 0.5
ALL_AREAS, MOST_DETECTIONS = 0, -1  # area range "all", maxDets 100


@dataclasses.dataclass(frozen=True)
class Scores:
    map: float  # mAP@[.5:.95], COCO's headline figure
    map50: float
    per_class: dict[str, float]  # AP@[.5:.95] of each class with labelled objects
    precision: np.ndarray | None  # COCOeval's [IoU, recall, class, area, maxDets] precision table
    class_names: tuple[str, ...]  # the classes of the table's third axis

    def to_dict(self) -> dict:
        return {"map": self.map, "map50": self.map50, "per_class": self.per_class}


def evaluate(labelled: LabelledSet, results: list[dict[str, Any]]) -> Scores:
    """Score ``results`` (COCO results) against the labelled set's annotations."""
    from pycocotools.cocoeval import COCOeval

    known = set(labelled.ground_truth.getCatIds())
    strangers = sorted({row["category_id"] for row in results} - known)
    if strangers:
        raise CommandError(
            f"the answers name category ids the annotation file does not have ({strangers[:5]}): "
            "its categories must be numbered as the endpoint's COCO answers are (COCO's ids for "
            "the COCO model, 1, 2, ... in class-list order for your own)"
        )
    names = labelled.category_names
    category_ids = sorted(names)
    if not results:  # pycocotools cannot load an empty list: nothing found scores 0
        return Scores(0.0, 0.0, dict.fromkeys(labelled_classes(labelled), 0.0), None, ())
    with contextlib.redirect_stdout(io.StringIO()):  # its tables are printed our way
        detections = labelled.ground_truth.loadRes(results)
        evaluation = COCOeval(labelled.ground_truth, detections, "bbox")
        evaluation.params.imgIds = [photo.image_id for photo in labelled.photos]
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    precision = evaluation.eval["precision"]
    per_class = {}
    for index, category_id in enumerate(evaluation.params.catIds):
        table = precision[:, :, index, ALL_AREAS, MOST_DETECTIONS]
        if (table > -1).any():  # -1: the class has no labelled object
            per_class[names[category_id]] = float(table[table > -1].mean())
    return Scores(
        map=float(evaluation.stats[0]),
        map50=float(evaluation.stats[1]),
        per_class=per_class,
        precision=precision,
        class_names=tuple(names[category_id] for category_id in category_ids),
    )


def labelled_classes(labelled: LabelledSet) -> list[str]:
    names = labelled.category_names
    with_objects = {row["category_id"] for row in labelled.ground_truth.dataset["annotations"]}
    return [names[category_id] for category_id in sorted(with_objects)]


def report(scores: Scores, label: str) -> str:
    """The figures as a person reads them: mAP, mAP@.5, then each class's AP."""
    lines = [
        f"{label}: mAP@[.5:.95] {scores.map:.3f}, mAP@.5 {scores.map50:.3f}",
        f"  {'class':<20}{'AP':>7}",
    ]
    for name, value in sorted(scores.per_class.items(), key=lambda item: item[1]):
        lines.append(f"  {name:<20}{value:>7.3f}")
    return "\n".join(lines)
