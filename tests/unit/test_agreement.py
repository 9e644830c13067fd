"""The tolerance helper that compares answers from different processes."""

import copy

import pytest

from tests.agreement import assert_same_answer, assert_same_detections


def detection(class_id, label, score, xmin=10.0, ymin=20.0, xmax=110.0, ymax=220.0):
    return {
        "class_id": class_id,
        "label": label,
        "score": score,
        "box": {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax},
    }


ANSWER = {
    "model": "yolo3_darknet53_coco",
    "image": {"width": 512, "height": 512},
    "detections": [
        detection(16, "dog", 0.912345),
        detection(0, "person", 0.508236, 200.0, 40.0, 300.0, 400.0),
        detection(2, "car", 0.2, 0.0, 0.0, 50.0, 50.0),
    ],
}


def changed(edit):
    answer = copy.deepcopy(ANSWER)
    edit(answer["detections"])
    return answer


def test_equal_answers_agree():
    assert_same_answer(copy.deepcopy(ANSWER), ANSWER)


def test_last_digit_differences_agree():
    def nudge(detections):
        detections[1]["score"] = 0.508238  # as seen between an AMD and an Intel machine
        detections[0]["box"]["xmax"] += 0.3

    assert_same_answer(changed(nudge), ANSWER)


def test_a_score_off_by_a_thousandth_fails():
    def nudge(detections):
        detections[1]["score"] += 1e-3

    with pytest.raises(AssertionError, match="no counterpart"):
        assert_same_answer(changed(nudge), ANSWER)


def test_a_box_off_by_two_pixels_fails():
    def shift(detections):
        detections[2]["box"]["ymin"] += 2.0

    with pytest.raises(AssertionError, match="no counterpart"):
        assert_same_answer(changed(shift), ANSWER)


def test_a_swapped_class_fails():
    def swap(detections):
        first, second = detections[0], detections[1]
        first["class_id"], second["class_id"] = second["class_id"], first["class_id"]
        first["label"], second["label"] = second["label"], first["label"]

    with pytest.raises(AssertionError, match="has no counterpart"):
        assert_same_answer(changed(swap), ANSWER)


def test_a_missing_detection_fails():
    with pytest.raises(AssertionError, match="2 detections, expected 3"):
        assert_same_answer(changed(lambda detections: detections.pop()), ANSWER)


def test_near_ties_may_change_places():
    expected = [detection(1, "bicycle", 0.30001), detection(3, "motorcycle", 0.30000)]
    actual = [detection(3, "motorcycle", 0.30004), detection(1, "bicycle", 0.30002)]
    assert_same_detections(actual, expected)


def test_clear_differences_may_not_change_places():
    expected = [detection(1, "bicycle", 0.4), detection(3, "motorcycle", 0.3)]
    actual = [detection(3, "motorcycle", 0.4), detection(1, "bicycle", 0.3)]
    with pytest.raises(AssertionError, match=r"bicycle 0\.400000 .* has no counterpart"):
        assert_same_detections(actual, expected)


def test_a_cut_list_may_end_on_another_near_tie():
    # max_detections=2 over three detections whose last two scores tie within the tolerance
    expected = [detection(16, "dog", 0.9), detection(1, "bicycle", 0.01234)]
    actual = [detection(16, "dog", 0.9), detection(3, "motorcycle", 0.01233)]
    assert_same_detections(actual, expected, cut=True)
    with pytest.raises(AssertionError, match="no counterpart"):
        assert_same_detections(actual, expected)


def test_unsorted_answers_fail():
    with pytest.raises(AssertionError, match="not best first"):
        assert_same_detections(
            [detection(1, "bicycle", 0.1), detection(2, "car", 0.2)],
            [detection(1, "bicycle", 0.1), detection(2, "car", 0.2)],
        )


def test_another_image_size_fails():
    other = copy.deepcopy(ANSWER)
    other["image"]["width"] = 511
    with pytest.raises(AssertionError, match=r"image .'width': 511"):
        assert_same_answer(other, ANSWER)
