"""The four SageMaker handler functions, in process, with MMS's own context objects."""

import json

import mxnet as mx
import pytest
from mms.context import Context, RequestProcessor
from mxnet import gluon

from inference import handler, model
from inference.errors import UnsupportedAccept
from tests.helpers import encode_image


@pytest.fixture(scope="module")
def detector(model_dir):
    return handler.model_fn(str(model_dir))


def mms_context(model_dir, headers):
    context = Context("model", str(model_dir), None, 1, None, "1.1.11")
    context.request_processor = [RequestProcessor(headers)]
    return context


def test_model_fn_returns_a_gluon_block_on_the_cpu(detector):
    assert isinstance(detector, gluon.Block)
    assert detector.ctx == mx.cpu()
    assert detector.metadata.name == "yolo3_darknet53_coco"
    assert len(detector.metadata.classes) == 80


def test_gpu_is_chosen_when_visible(monkeypatch):
    monkeypatch.setattr(mx.context, "num_gpus", lambda: 2)
    assert model.choose_context("1") == mx.gpu(1)
    assert model.choose_context(None) == mx.gpu(0)
    monkeypatch.setattr(mx.context, "num_gpus", lambda: 0)
    assert model.choose_context("1") == mx.cpu()


def test_input_fn_reads_custom_attributes_from_the_context(model_dir, astronaut_jpeg):
    context = mms_context(model_dir, {"X-Amzn-SageMaker-Custom-Attributes": "max_detections=2"})
    request = handler.input_fn(astronaut_jpeg, "image/jpeg", context)
    assert request.params.max_detections == 2
    assert request.image.shape == (512, 512, 3)
    defaults = handler.settings().defaults
    assert handler.input_fn(astronaut_jpeg, "image/jpeg").params == defaults


def test_round_trip(detector, model_dir, astronaut_jpeg):
    context = mms_context(model_dir, {"X-Amzn-SageMaker-Custom-Attributes": "threshold=0"})
    prediction = handler.predict_fn(
        handler.input_fn(astronaut_jpeg, "image/jpeg", context), detector
    )
    assert prediction.input_size == (416, 416)
    body, media_type = handler.output_fn(prediction, "application/json")
    assert media_type == "application/json"
    document = json.loads(body)
    assert document["image"] == {"width": 512, "height": 512}
    assert document["detections"]
    with pytest.raises(UnsupportedAccept):
        handler.output_fn(prediction, "text/csv")


def test_missing_model_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model-symbol\.json"):
        model.load_detector(str(tmp_path))


def test_an_endpoint_default_above_the_models_cap_fails_the_load(detector):
    from inference.settings import ConfigurationError, RequestSettings, check_against_model

    metadata = detector.metadata
    within = RequestSettings.from_environ({"SM_DETECT_MAX_DETECTIONS": "100"})
    check_against_model(within, metadata.classes, metadata.post_nms)
    beyond = RequestSettings.from_environ({"SM_DETECT_MAX_DETECTIONS": "101"})
    with pytest.raises(ConfigurationError, match="at most 100, the detections this model"):
        check_against_model(beyond, metadata.classes, metadata.post_nms)


def test_every_canvas_of_the_default_mode_is_warmed_at_load(model_dir, caplog):
    with caplog.at_level("INFO", logger="inference.model"):
        model.load_detector(str(model_dir), mode="square320")
    (loaded,) = [r.getMessage() for r in caplog.records if "warmed" in r.getMessage()]
    assert "1 input shape(s) of mode square320 warmed" in loaded


def test_an_unknown_class_is_refused_before_any_work(detector, random_array, monkeypatch):
    from inference import preprocess
    from inference.errors import InvalidParameter

    def no_work(*_args, **_kwargs):
        raise AssertionError("the image was prepared for the network")

    monkeypatch.setattr(preprocess, "to_tensor", no_work)
    request = handler.prepare(encode_image(random_array, "PNG"), "image/png", "classes=dog;doggo")
    with pytest.raises(InvalidParameter, match="unknown class name"):
        handler.predict_fn(request, detector)
