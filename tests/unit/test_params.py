import pytest

from inference.errors import InvalidParameter
from inference.params import RequestParams


def test_header_overrides_defaults():
    parsed = RequestParams().with_attributes("threshold=0.25, max_detections=20,classes=dog;person")
    assert parsed == RequestParams(threshold=0.25, max_detections=20, classes=("dog", "person"))


def test_missing_or_empty_header_keeps_defaults():
    defaults = RequestParams(threshold=0.3, max_detections=7)
    assert defaults.with_attributes(None) == defaults
    assert defaults.with_attributes(" , ") == defaults


def test_keys_are_case_insensitive():
    assert RequestParams().with_attributes("Threshold=0.75").threshold == 0.75


@pytest.mark.parametrize(
    "header",
    [
        "treshold=0.5",  # unknown key (a typo)
        "threshold",  # no value
        "threshold=nan",
        "threshold=inf",
        "threshold=-0.1",
        "threshold=1.5",
        "threshold=high",
        "max_detections=0",
        "max_detections=1001",
        "max_detections=2.5",
        "max_detections=-3",
        "max_detections=99999999999999999999999",
        "classes=",
        "classes=;;",
    ],
)
def test_bad_attributes_are_refused(header):
    with pytest.raises(InvalidParameter):
        RequestParams().with_attributes(header)


def test_bounds_are_inclusive():
    parsed = RequestParams().with_attributes("threshold=0,max_detections=1000")
    assert (parsed.threshold, parsed.max_detections) == (0.0, 1000)
    assert RequestParams().with_attributes("threshold=1").threshold == 1.0


def test_mode_per_request_over_the_endpoint_default():
    defaults = RequestParams(mode="square416")
    assert defaults.with_attributes("mode=square608").mode == "square608"
    assert defaults.with_attributes("threshold=0.3").mode == "square416"
    with pytest.raises(InvalidParameter, match="got 'Square608'"):
        defaults.with_attributes("mode=Square608")
