import hashlib
import json
import os
import re
import socket
import subprocess

import mxnet as mx
import pytest

from scripts.lib.archives import archive
from tests.helpers import SM_DETECT


def package(*args, env=None):
    return subprocess.run(
        [SM_DETECT, "package", *args], capture_output=True, text=True, env=env, timeout=600
    )


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed once the probe is gone


def sha256(path):
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()


def test_archive_layout_and_metadata(model_dir):
    names = set(os.listdir(model_dir))
    assert {"model-symbol.json", "model-0000.params", "model.json", "code"} <= names
    assert "gluoncv-symbol.json" in names  # GluonCV's own graph, for the benchmark
    assert os.path.isfile(model_dir / "code" / "inference" / "handler.py")
    assert not list((model_dir / "code").rglob("__pycache__"))
    metadata = json.loads((model_dir / "model.json").read_text())
    assert metadata["name"] == "yolo3_darknet53_coco"
    assert len(metadata["classes"]) == 80 and metadata["classes"][16] == "dog"
    assert metadata["preprocessing"]["short"] == 416
    assert metadata["preprocessing"]["max_size"] == 1024
    assert metadata["preprocessing"]["mean"] == [0.485, 0.456, 0.406]
    # GluonCV's YOLOv3 settings (overlap 0.45, valid above 0.01), run after the network
    assert metadata["nms"] == {
        "threshold": 0.45,
        "topk": 400,
        "valid_threshold": 0.01,
        "in_graph": False,
        "post_nms": 100,
    }
    assert metadata["exported_with"]["mxnet"] == "1.9.1"
    assert metadata["exported_with"]["gluoncv"] == "0.10.5.post0"
    assert metadata["exported_with"]["detection_head"].startswith("top-k before NMS")


def test_archives_are_reproducible(tmp_path, model_archive, weights_file):
    # the session's archive was made by another process from the same weights file
    again = tmp_path / "again.tar.gz"
    result = package("--weights", str(weights_file), "--output", str(again))
    assert result.returncode == 0, result.stderr
    assert sha256(again) == sha256(model_archive)


def test_no_object_ids_in_the_graphs(model_dir):
    for name in ("model-symbol.json", "gluoncv-symbol.json"):
        text = (model_dir / name).read_text()
        assert "Constant_yolov30_yolooutputv30_offset_0_0" in text
        assert not re.search(r"Constant_\w*_\d{6,}", text)


def test_the_exported_symbol_ends_at_the_candidates(model_dir):
    # NMS is postprocessing's (test_detection_head shows the same rows kept as GluonCV's)
    symbol = mx.sym.load(str(model_dir / "model-symbol.json"))
    assert not any("box_nms" in name for name in symbol.get_internals().list_outputs())
    _, shapes, _ = symbol.infer_shape(data=(1, 3, 416, 416))
    assert shapes == [(1, 400, 1), (1, 400, 1), (1, 400, 4)]  # nms_topk candidates


def test_random_weights_are_deterministic(tmp_path, model_dir):
    # the session's model was packaged from a weights file saved from the same seeded network
    result = package("--weights", "random", "--output", str(tmp_path / "random.tar.gz"))
    assert result.returncode == 0, result.stderr
    archive.safe_extract(str(tmp_path / "random.tar.gz"), str(tmp_path / "random"))
    assert sha256(tmp_path / "random" / "model-0000.params") == sha256(
        model_dir / "model-0000.params"
    )
    assert "==> exporting" in result.stderr  # progress is shown


def test_custom_classes(tmp_path):
    classes = tmp_path / "classes.txt"
    classes.write_text("helmet\nvest\n\nboots\n")
    result = package(
        "--weights",
        "random",
        "--classes",
        str(classes),
        "--output",
        str(tmp_path / "custom.tar.gz"),
    )
    assert result.returncode == 0, result.stderr
    archive.safe_extract(str(tmp_path / "custom.tar.gz"), str(tmp_path / "custom"))
    metadata = json.loads((tmp_path / "custom" / "model.json").read_text())
    assert metadata["name"] == "yolo3_darknet53_custom"
    assert metadata["classes"] == ["helmet", "vest", "boots"]


def test_pretrained_offline_names_the_way_out(tmp_path):
    # no cached weights, and GluonCV's model store at a closed port: offline on any machine,
    # with internet or without
    env = dict(
        os.environ,
        MXNET_HOME=str(tmp_path / "mxnet-home"),
        MXNET_GLUON_REPO=f"http://127.0.0.1:{closed_port()}/",
    )
    result = package("--weights", "pretrained", "--output", str(tmp_path / "m.tar.gz"), env=env)
    assert result.returncode == 1
    assert "WEIGHTS=random" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "m.tar.gz").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--weights", "/nonexistent.params"], "does not exist"),
        (["--weights", "random", "--classes", "/dev/null"], "names no classes"),
        (["--weights", "pretrained", "--classes", "/dev/null"], "goes with a weights file"),
    ],
)
def test_bad_arguments_are_one_line(tmp_path, args, message):
    result = package(*args, "--output", str(tmp_path / "m.tar.gz"))
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_weights_for_another_architecture_are_refused(tmp_path):
    wrong = tmp_path / "wrong.params"
    mx.nd.save(str(wrong), {"weight": mx.nd.zeros((2, 2))})
    result = package("--weights", str(wrong), "--output", str(tmp_path / "m.tar.gz"))
    assert result.returncode == 1
    assert "does not hold YOLOv3-darknet53 weights" in result.stderr
