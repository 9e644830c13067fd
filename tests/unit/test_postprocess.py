import numpy as np
import pytest

from inference.errors import InvalidParameter
from inference.params import RequestParams
from inference.postprocess import to_detections

LABELS = ("person", "bicycle", "car", "dog")


def raw(rows):
    """Network-shaped outputs (1xNx1 ids, 1xNx1 scores, 1xNx4 boxes) from (id, score, box) rows."""
    ids = np.array([[[r[0]] for r in rows]], dtype=np.float32)
    scores = np.array([[[r[1]] for r in rows]], dtype=np.float32)
    boxes = np.array([[r[2] for r in rows]], dtype=np.float32)
    return ids, scores, boxes


ROWS = [
    (3, 0.9, (10, 20, 110, 220)),
    (0, 0.6, (0, 0, 50, 50)),
    (2, 0.95, (300, 200, 420, 330)),  # reaches past the 416x312 input's right and bottom edges
    (-1, -1, (-1, -1, -1, -1)),  # NMS padding
    (1, 0.3, (5, 5, 6, 6)),
]


def detect(rows=ROWS, input_size=(416, 312), image_size=(832, 624), **param_values):
    return to_detections(
        *raw(rows),
        input_size=input_size,
        image_size=image_size,
        labels=LABELS,
        params=RequestParams(**param_values),
    )


def test_padding_dropped_sorted_by_score_and_thresholded():
    detections = detect(threshold=0.5)
    assert [(d.label, round(d.score, 2)) for d in detections] == [
        ("car", 0.95),
        ("dog", 0.9),
        ("person", 0.6),
    ]


def test_boxes_mapped_to_original_pixels_and_clipped():
    by_label = {d.label: d for d in detect(threshold=0.0)}
    assert by_label["dog"].box == pytest.approx((20, 40, 220, 440))  # input is half the image size
    assert by_label["car"].box == pytest.approx((600, 400, 832, 624))  # clipped to 832x624


def test_non_uniform_scale():
    (only,) = detect(rows=[ROWS[0]], input_size=(416, 416), image_size=(832, 416), threshold=0)
    assert only.box == pytest.approx((20, 20, 220, 220))


def test_max_detections_keeps_the_best():
    assert [d.label for d in detect(threshold=0, max_detections=2)] == ["car", "dog"]


def test_class_filter_by_label():
    assert [d.label for d in detect(threshold=0, classes=("dog", "bicycle"))] == ["dog", "bicycle"]


def test_unknown_class_is_refused():
    with pytest.raises(InvalidParameter, match="zebra"):
        detect(classes=("zebra",))


def test_nothing_detected():
    assert detect(rows=[ROWS[3]]) == []
    assert detect(threshold=0.99) == []
