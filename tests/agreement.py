"""Whether two answers of the model agree, when they were computed in different processes.

Two processes (another OpenMP thread count, another container, another CPU) sum in a different
order: oneDNN's results then differ in the last float digits (0.508236 against 0.508238 for the
same box was seen on an Intel Xeon). The tolerances are the parity tests' own: scores within 1e-4
and boxes within 0.5 px (the served JSON rounds boxes to 0.01 px and scores to 1e-6), the same
class ids in the same order, except where two scores are closer than the tolerance and may swap.
Exact equality stays for answers computed twice by the same process.
"""

import json

import numpy as np

SCORE_TOLERANCE = 1e-4
BOX_TOLERANCE_PX = 0.5
BOX_KEYS = ("xmin", "ymin", "xmax", "ymax")


def box_of(detection):
    return np.array([detection["box"][key] for key in BOX_KEYS], dtype=np.float64)


def agrees(one, other, score_tolerance, box_tolerance):
    return (
        one["class_id"] == other["class_id"]
        and abs(one["score"] - other["score"]) <= score_tolerance
        and np.abs(box_of(one) - box_of(other)).max() <= box_tolerance
    )


def assert_same_detections(
    actual, expected, cut=False, score_tolerance=SCORE_TOLERANCE, box_tolerance=BOX_TOLERANCE_PX
):
    """``actual`` and ``expected``: lists of detections as the JSON answer has them.

    Each expected detection is matched, in order, to one actual detection of the same class
    whose score and box are within the tolerances. Detections may change places only with one
    whose score is within the tolerance of theirs. With ``cut``, the lists were cut to a number
    of detections (``max_detections``, or the model's own NMS cap), so they may end on different
    detections whose scores tie with the last one within the tolerance.
    """
    assert len(actual) == len(expected), f"{len(actual)} detections, expected {len(expected)}"
    for name, detections in (("actual", actual), ("expected", expected)):
        scores = [d["score"] for d in detections]
        assert scores == sorted(scores, reverse=True), f"{name} detections are not best first"
    unmatched = list(actual)
    leftover = []
    for position, wanted in enumerate(expected):
        candidates = [
            (index, found)
            for index, found in enumerate(unmatched)
            if agrees(found, wanted, score_tolerance, box_tolerance)
        ]
        if not candidates:
            leftover.append((position, wanted))
            continue
        closest, _ = min(
            candidates, key=lambda pair: np.abs(box_of(pair[1]) - box_of(wanted)).max()
        )
        unmatched.pop(closest)
    if not leftover:
        return
    last_score = expected[-1]["score"]
    at_the_cut = cut and all(
        abs(d["score"] - last_score) <= score_tolerance
        for d in [wanted for _, wanted in leftover] + unmatched
    )
    position, wanted = leftover[0]
    assert at_the_cut, (
        f"expected detection {position} ({wanted['label']} {wanted['score']:.6f} at "
        f"{box_of(wanted).round(2).tolist()}) has no counterpart within {score_tolerance} in "
        f"score and {box_tolerance} px"
    )


def assert_same_answer(actual, expected, **options):
    """Two JSON answers of the detector: the same image, model and detections."""
    assert actual["model"] == expected["model"], f"model {actual['model']!r}"
    assert actual["image"] == expected["image"], f"image {actual['image']}, not {expected['image']}"
    assert_same_detections(actual["detections"], expected["detections"], **options)


def answer_in_process(model_dir, body, content_type, custom_attributes=None):
    """The JSON answer of the handler functions in this process, to compare a server's with."""
    from inference import handler

    detector = handler.model_fn(str(model_dir))
    request = handler.prepare(body, content_type, custom_attributes)
    encoded, _ = handler.output_fn(handler.predict_fn(request, detector), "application/json")
    return json.loads(encoded)


def assert_agrees_with_this_process(
    served, model_dir, body, custom_attributes, content_type="image/jpeg"
):
    """A served answer (another process, thread count or machine) against this process's."""
    expected = answer_in_process(model_dir, body, content_type, custom_attributes)
    assert_same_answer(served, expected, cut="max_detections" in custom_attributes)
