"""model.json is untrusted input on a multi-model endpoint: every field a worker would serve is
checked when it is read, and a bad one is a ValueError naming it."""

import json

import pytest

from inference.metadata import MAX_METADATA_BYTES, ModelMetadata

GOOD = {"name": "yolo3_darknet53_coco", "classes": ["person", "dog"]}


def test_a_packaged_models_metadata_reads_back():
    metadata = ModelMetadata(name="m", classes=("a", "b"), precision="int8")
    assert ModelMetadata.from_json(metadata.to_json()) == metadata


@pytest.mark.parametrize(
    "change, named",
    [
        ({"classes": [{"a": 1}]}, "classes"),
        ({"classes": []}, "classes"),
        ({"classes": ["dog", "dog"]}, "classes"),
        ({"classes": "dog"}, "classes"),
        ({"name": 5}, "name"),
        ({"precision": "int4"}, "precision"),
        ({"preprocessing": {"short": 100_000}}, "short"),
        ({"preprocessing": {"short": 416.5}}, "short"),
        ({"preprocessing": {"short": True}}, "short"),
        ({"preprocessing": {"max_size": 4096}}, "max_size"),
        ({"preprocessing": {"mean": [0.5, 0.5]}}, "mean"),
        ({"preprocessing": {"std": [0, 1, 1]}}, "std"),
        ({"preprocessing": {"std": [float("nan"), 1, 1]}}, "std"),
        ({"preprocessing": {"buckets": list(range(416, 1100, 10))}}, "buckets"),
        ({"nms": {"threshold": 2}}, "threshold"),
        ({"nms": {"post_nms": 0}}, "post_nms"),
        ({"nms": {"topk": 10**9}}, "topk"),
        ({"nms": []}, "nms"),
        ({"exported_with": "x"}, "exported_with"),
    ],
)
def test_a_field_a_worker_could_not_serve_is_refused(change, named):
    with pytest.raises(ValueError, match=named):
        ModelMetadata.from_json(json.dumps({**GOOD, **change}))


def test_nesting_and_size_are_bounded():
    with pytest.raises(ValueError, match="nested too deeply"):
        ModelMetadata.from_json('{"a":' * 100_000 + "1" + "}" * 100_000)
    with pytest.raises(ValueError, match="more than"):
        ModelMetadata.from_json(json.dumps({**GOOD, "weights": "x" * MAX_METADATA_BYTES}))
    with pytest.raises(ValueError, match="not a JSON object"):
        ModelMetadata.from_json("[]")
