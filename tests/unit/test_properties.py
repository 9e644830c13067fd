"""Property tests: whatever arrives, the request path answers with a RequestError or a result."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference import content_types, decode, params
from inference.errors import RequestError
from inference.params import RequestParams
from inference.postprocess import to_detections

LABELS = tuple(f"class{i}" for i in range(8))
MEDIA_TYPES = st.sampled_from([*content_types.REQUEST_TYPES, "text/plain", "", None])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=4096), content_type=MEDIA_TYPES)
def test_decode_answers_or_refuses(body, content_type):
    try:
        image = decode.decode(body, content_type)
    except RequestError as error:
        assert 400 <= error.status < 500
    else:
        assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8


@settings(max_examples=400, deadline=None)
@given(header=st.text(max_size=200))
def test_custom_attributes_parse_or_refuse(header):
    try:
        parsed = RequestParams().with_attributes(header)
    except params.InvalidParameter:
        return
    assert 0.0 <= parsed.threshold <= 1.0
    assert 1 <= parsed.max_detections <= params.MAX_DETECTIONS_LIMIT


@st.composite
def network_outputs(draw):
    count = draw(st.integers(0, 40))
    ids = draw(st.lists(st.integers(-1, len(LABELS) - 1), min_size=count, max_size=count))
    scores = draw(st.lists(st.floats(0, 1, width=32), min_size=count, max_size=count))
    coordinate = st.floats(-500, 1500, width=32)
    boxes = draw(
        st.lists(
            st.tuples(coordinate, coordinate, coordinate, coordinate),
            min_size=count,
            max_size=count,
        )
    )
    return (
        np.array(ids, dtype=np.float32),
        np.array(scores, dtype=np.float32),
        np.array(boxes, dtype=np.float32).reshape(-1, 4),
    )


@settings(max_examples=300, deadline=None)
@given(
    outputs=network_outputs(),
    width=st.integers(1, 4000),
    height=st.integers(1, 4000),
    threshold=st.floats(0, 1),
    max_detections=st.integers(1, 50),
)
def test_postprocess_invariants(outputs, width, height, threshold, max_detections):
    ids, scores, boxes = outputs
    detections = to_detections(
        ids,
        scores,
        boxes,
        input_size=(416, 416),
        image_size=(width, height),
        labels=LABELS,
        params=RequestParams(threshold, max_detections),
    )
    assert len(detections) <= min(max_detections, int((ids >= 0).sum()))
    assert [d.score for d in detections] == sorted((d.score for d in detections), reverse=True)
    for detection in detections:
        assert detection.score >= threshold and detection.label in LABELS
        xmin, ymin, xmax, ymax = detection.box
        assert 0 <= xmin <= width and 0 <= xmax <= width
        assert 0 <= ymin <= height and 0 <= ymax <= height
