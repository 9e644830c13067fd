"""A precision-recall curve per class at IoU 0.5, from pycocotools' own table: where a class's
precision falls as more of its objects are found."""

import math

import numpy as np

from scripts.lib.evaluation.annotations import LabelledSet
from scripts.lib.evaluation.scores import Scores

MAX_CLASSES = 20  # the classes with most labelled objects; the rest are in the figures
RECALLS = np.linspace(0.0, 1.0, 101)  # COCOeval's recall thresholds


def draw(scores: Scores, labelled: LabelledSet, path: str) -> str | None:
    """Write the curves to ``path`` (PNG); None when nothing was found to plot."""
    if scores.precision is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    counts: dict[int, int] = {}
    for row in labelled.ground_truth.dataset["annotations"]:
        counts[row["category_id"]] = counts.get(row["category_id"], 0) + 1
    names = labelled.category_names
    order = sorted(names)
    shown = sorted(counts, key=lambda category_id: -counts[category_id])[:MAX_CLASSES]
    columns = min(4, len(shown))
    rows = math.ceil(len(shown) / columns)
    figure, axes = pyplot.subplots(
        rows, columns, figsize=(3.2 * columns, 2.8 * rows), squeeze=False
    )
    for axis in axes.flat[len(shown) :]:
        axis.axis("off")
    for axis, category_id in zip(axes.flat, shown, strict=False):
        curve = scores.precision[0, :, order.index(category_id), 0, -1]
        curve = np.where(curve < 0, np.nan, curve)
        ap = scores.per_class.get(names[category_id], float("nan"))
        axis.plot(RECALLS, curve, color="tab:blue")
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1.05)
        axis.set_title(f"{names[category_id]} ({counts[category_id]}) AP {ap:.2f}", fontsize=9)
        axis.set_xlabel("recall", fontsize=8)
        axis.set_ylabel("precision", fontsize=8)
        axis.tick_params(labelsize=7)
    figure.suptitle("precision and recall at IoU 0.5, per class (labelled objects)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path
