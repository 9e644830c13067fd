"""The INT8-against-FP32 agreement figures, where the answer is known by hand."""

import math

import pytest

from inference.postprocess import Detection
from scripts.lib.archives import agreement


def detection(class_id, score, box):
    return Detection(class_id, str(class_id), score, tuple(float(v) for v in box))


DOG = detection(16, 0.9, (10, 10, 110, 110))
CAT = detection(15, 0.8, (200, 200, 300, 300))
PERSON = detection(0, 0.7, (50, 300, 150, 500))


def test_identical_detections_agree_fully():
    image = agreement.compare_image("same", [DOG, CAT], [DOG, CAT], [[1.0, 2.0]], [[1.0, 2.0]])
    assert (image.matched, image.reference, image.candidate) == (2, 2, 2)
    assert image.average_precision == 1.0
    assert image.max_score_difference == 0.0
    assert image.sqnr_db == math.inf


@pytest.mark.parametrize(
    "shift, expected",
    [
        (0, 1.0),
        (10, (90 * 100) / (100 * 100 * 2 - 90 * 100)),  # 9000 / 11000
        (50, (50 * 100) / (100 * 100 * 2 - 50 * 100)),  # 1/3
        (100, 0.0),
    ],
)
def test_a_box_shifted_by_a_known_amount_has_the_known_iou(shift, expected):
    shifted = (10 + shift, 10, 110 + shift, 110)
    assert agreement.iou(DOG.box, [shifted])[0] == pytest.approx(expected)


def test_a_shift_past_half_overlap_is_no_match():
    moved = detection(16, 0.9, (60, 10, 160, 110))  # IoU 50 x 100 / 15000 = 1/3
    assert agreement.matches([DOG], [moved]) == []
    assert agreement.mean_average_precision([[DOG]], [[moved]]) == 0.0


def test_another_class_in_the_same_place_is_no_match():
    relabelled = detection(15, 0.9, DOG.box)
    assert agreement.matches([DOG], [relabelled]) == []


def test_a_missing_class_lowers_map_as_by_hand():
    # three classes in the reference; the candidate finds two of them exactly: AP 1, 1, 0
    found = agreement.mean_average_precision([[DOG, CAT, PERSON]], [[DOG, CAT]])
    assert found == pytest.approx((1 + 1 + 0) / 3)


def test_a_false_positive_ranked_first_halves_precision_at_that_recall():
    # one reference dog; the candidate's best-scored dog box is elsewhere, its second is right:
    # precision 1/2 at recall 1, so AP = 0.5
    wrong = detection(16, 0.95, (400, 400, 500, 500))
    right = detection(16, 0.85, DOG.box)
    assert agreement.mean_average_precision([[DOG]], [[wrong, right]]) == pytest.approx(0.5)


def test_score_differences_and_totals():
    lower = detection(16, 0.85, DOG.box)
    first = agreement.compare_image("a", [DOG, CAT], [lower], [[3.0, 4.0]], [[3.0, 4.0]])
    second = agreement.compare_image("b", [PERSON], [PERSON], [[1.0]], [[1.0]])
    assert first.max_score_difference == pytest.approx(0.05)
    totals = agreement.summary([first, second], [[DOG, CAT], [PERSON]], [[lower], [PERSON]])
    assert totals["matched"] == 2 and totals["reference_detections"] == 3
    assert totals["matched_share"] == pytest.approx(2 / 3)
    assert totals["map50"] == pytest.approx((1 + 0 + 1) / 3)  # dog, cat, person


def test_sqnr_by_hand():
    # signal 3^2 + 4^2 = 25, noise 0.5^2 = 0.25: 10 log10(100) = 20 dB
    assert agreement.sqnr([[3.0, 4.0]], [[3.5, 4.0]]) == pytest.approx(20.0)


def test_no_reference_detection_is_no_measure():
    assert math.isnan(agreement.mean_average_precision([[]], [[DOG]]))
    assert math.isnan(agreement.mean_average_precision([[]], [[]]))
