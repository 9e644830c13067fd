"""INT8: an archive quantized at packaging time, its agreement recorded, served by the same server.

Random weights: the agreement figures are checked for being there and consistent, not for
being good (with random weights they say nothing about accuracy).
"""

import json
import os
import re
import subprocess

import numpy as np
import pytest
import requests

from inference import cpu, model
from inference.metadata import ModelMetadata
from scripts.lib.archives import archive
from scripts.lib.bench import profile
from tests.helpers import (
    LONG_COMMAND_SECONDS,
    SM_DETECT,
    encode_image,
    tiff_with_strip_offsets_of_type,
)
from tests.servers import QUICK_START, post_image, running_server

CRAFTED_TIFF = tiff_with_strip_offsets_of_type(np.zeros((24, 32, 3), np.uint8), 5)


def package(*args, env=None):
    return subprocess.run(
        [SM_DETECT, "package", "--weights", "random", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=LONG_COMMAND_SECONDS,
    )


@pytest.fixture(scope="module")
def image_folders(tmp_path_factory, photos):
    root = tmp_path_factory.mktemp("int8-images")
    for folder, names in (
        ("calibration", ("astronaut", "coffee", "chelsea")),
        ("validation", ("motorcycle", "astronaut")),
    ):
        (root / folder).mkdir()
        for name in names:
            (root / folder / f"{name}.jpg").write_bytes(encode_image(photos[name], "JPEG"))
    (root / "calibration" / "README.txt").write_text("not an image: skipped")
    (root / "calibration" / "crafted.tif").write_bytes(CRAFTED_TIFF)  # broke Pillow's loader
    (root / "elsewhere.jpg").write_bytes(encode_image(photos["coffee"], "JPEG"))
    (root / "calibration" / "outside.jpg").symlink_to(root / "elsewhere.jpg")
    return root


def package_int8(image_folders, output, *options, env=None):
    """INT8 from the calibration folder, its agreement measured on the validation folder."""
    return package(
        "--precision",
        "int8",
        "--calibration",
        str(image_folders / "calibration"),
        "--validate",
        str(image_folders / "validation"),
        "--agreement-threshold",
        "0.05",
        *options,
        "--output",
        str(output),
        env=env,
    )


@pytest.fixture(scope="module")
def int8_archive(tmp_path_factory, image_folders):
    output = tmp_path_factory.mktemp("int8") / "model-int8.tar.gz"
    result = package_int8(image_folders, output)
    assert result.returncode == 0, result.stderr[-3000:]
    output.with_suffix(".log").write_text(result.stderr)
    return output


@pytest.fixture(scope="module")
def int8_dir(tmp_path_factory, int8_archive):
    directory = tmp_path_factory.mktemp("int8-model")
    archive.safe_extract(str(int8_archive), str(directory))
    return directory


def test_calibration_skips_what_the_decoder_refuses_and_links_saying_so(int8_archive):
    said = int8_archive.with_suffix(".log").read_text()
    assert re.search(r"skipped \S+/crafted\.tif: the image could not be decoded: TypeError", said)
    assert re.search(r"skipped \S+/outside\.jpg: a link, not followed", said)
    assert re.search(r"skipped \S+/README\.txt: the body is not an image", said)


def test_the_archive_says_int8_and_how_it_was_made(int8_dir):
    metadata = json.loads((int8_dir / model.METADATA_FILE).read_text())
    assert metadata["precision"] == "int8"
    quantization = metadata["quantization"]
    assert quantization["calibration"] == "naive" and quantization["calibration_images"] == 3
    assert quantization["calibration_mode"] == "aspect"
    # calibrated, and served, on the INT8 canvases: one compiled graph each
    assert metadata["preprocessing"]["buckets"] == [416, 555, 624, 740, 1024]
    assert all(entry.get("layers") or entry.get("operators") for entry in quantization["kept_fp32"])
    assert all(entry["reason"] for entry in quantization["kept_fp32"])
    assert not (int8_dir / model.GLUONCV_SYMBOL_FILE).exists()  # its FP32 weights are gone
    symbol = (int8_dir / model.SYMBOL_FILE).read_text()
    assert "_contrib_quantize_v2" in symbol and "quantized" in symbol


def test_the_agreement_is_recorded_per_image_and_in_total(int8_dir, int8_archive):
    recorded = json.loads((int8_dir / model.METADATA_FILE).read_text())["agreement"]
    assert recorded["threshold"] == 0.05
    images = recorded["images"]
    assert [image["name"] for image in images] == ["astronaut.jpg", "motorcycle.jpg"]
    totals = recorded["totals"]
    assert totals["images"] == 2
    assert totals["reference_detections"] == sum(image["reference"] for image in images)
    assert totals["matched"] == sum(image["matched"] for image in images)
    assert 0 <= totals["matched"] <= totals["reference_detections"]
    assert totals["map50"] is None or 0 <= totals["map50"] <= 1
    assert all(image["sqnr_db"] is None or image["sqnr_db"] > 10 for image in images)
    shown = int8_archive.with_suffix(".log").read_text()
    assert "calibrating on images" in shown and "mAP@0.5" in shown
    assert "quantized_concat" not in shown  # MXNet's own chatter is kept off the terminal


def test_an_fp32_archive_says_fp32(model_dir):
    assert ModelMetadata.from_json((model_dir / model.METADATA_FILE).read_text()).precision == (
        "fp32"
    )


@pytest.mark.server
def test_the_same_server_serves_int8(int8_archive, tmp_path, astronaut_jpeg):
    # one canvas to warm: every canvas of INT8's is warmed and served in test_memory
    with running_server(int8_archive, tmp_path / "server", **QUICK_START) as server:
        assert requests.get(f"{server.url}/ping", timeout=10).json() == {"status": "healthy"}
        answer = post_image(
            server, astronaut_jpeg, **{"X-Amzn-SageMaker-Custom-Attributes": "threshold=0"}
        )
        assert answer.status_code == 200
        assert answer.json()["image"] == {"width": 512, "height": 512}
        assert answer.json()["detections"]
        refused = post_image(server, b"not an image")
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "InvalidInput"
        assert "int8" in server.log  # the worker says what it loaded


def test_a_gpu_is_refused_at_load_with_one_line(int8_dir, monkeypatch):
    import mxnet as mx

    from container import serve
    from container.model_server import ServeError
    from container.settings import Settings

    monkeypatch.setattr(mx.context, "num_gpus", lambda: 1)
    with pytest.raises(ServeError, match="this model is INT8, and MXNet runs it on CPUs only"):
        serve.check_model_dir(str(int8_dir), Settings())


@pytest.mark.parametrize(
    "args, message",
    [
        (["--precision", "int4", "--calibration", "{calibration}"], "invalid choice: 'int4'"),
        (["--calibration", "{calibration}"], "--calibration goes with --precision int8"),
        (["--precision", "int8", "--calibration", "{empty}"], "holds no image this server reads"),
        (["--precision", "int8", "--calibration", "{texts}"], "holds no image this server reads"),
        (["--precision", "int8", "--calibration", "{one}"], "at least 2 are needed, one to"),
        (
            ["--precision", "int8", "--calibration", "{calibration}", "--min-agreement", "2"],
            "takes a number from 0 to 1, got '2'",
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(image_folders, tmp_path, args, message):
    for name, files in (("empty", {}), ("texts", {"a.jpg": "text"}), ("one", None)):
        (tmp_path / name).mkdir()
        for file_name, text in (files or {}).items():
            (tmp_path / name / file_name).write_text(text)
    (tmp_path / "one" / "a.jpg").write_bytes(
        (image_folders / "validation" / "astronaut.jpg").read_bytes()
    )
    places = {
        "calibration": str(image_folders / "calibration"),
        "empty": str(tmp_path / "empty"),
        "texts": str(tmp_path / "texts"),
        "one": str(tmp_path / "one"),
    }
    output = tmp_path / "out.tar.gz"
    result = package(*(arg.format(**places) for arg in args), "--output", str(output))
    assert result.returncode == 1, result.stderr[-2000:]
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("sm-detect package:")]
    assert message in line and "Traceback" not in result.stderr
    assert not output.exists() and not list(tmp_path.glob("out*"))


def test_below_the_minimum_agreement_nothing_is_written(image_folders, tmp_path):
    output = tmp_path / "out.tar.gz"
    result = package_int8(
        image_folders,
        output,
        "--min-agreement",
        "0.999",
        env=dict(os.environ, OMP_NUM_THREADS="2"),
    )
    assert result.returncode == 1
    assert "below the minimum of 0.999: nothing written; lower --min-agreement" in result.stderr
    assert not output.exists() and not list(tmp_path.glob("out*"))


def test_without_calibration_images_the_sample_photographs_calibrate(weights_file, tmp_path):
    # `make serve PRECISION=int8`: INT8 one flag away, nothing else to give
    output = tmp_path / "model-int8.tar.gz"
    result = package("--weights", str(weights_file), "--precision", "int8", "-o", str(output))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "calibrating on the 6 sample photographs" in result.stderr
    archive.safe_extract(str(output), str(tmp_path / "model"))
    metadata = json.loads((tmp_path / "model" / model.METADATA_FILE).read_text())
    assert metadata["precision"] == "int8"
    assert metadata["quantization"]["calibration_images"] == 5  # one held back to validate
    assert len(metadata["agreement"]["images"]) == 1


def int8_convolution_share(found, word):
    """The share of the INT8 convolutions' time (those the output blocks keep FP32 aside) whose
    implementation names ``word``."""

    def int8(key):
        return key[0] == "convolution" and ("int8" in key[1] or "vnni" in key[1])

    return found.share(lambda key: int8(key) and word in key[1]) / found.share(int8)


def test_the_int8_forward_runs_no_reference_kernel_and_amx_where_the_cpu_has_it(int8_dir):
    # read from oneDNN's own log of two forward passes in a process loaded as the server loads
    found = profile.profile(int8_dir, runs=2)
    assert found.reference_share <= 0.05, found.rows()[:5]  # the residual adds were 27 %
    symbol = (int8_dir / model.SYMBOL_FILE).read_text()
    assert "_contrib_quantized_elemwise_add" not in symbol  # fused into their convolutions
    assert symbol.count('"with_sum": "true"') == 23  # darknet53's residual blocks
    isa = cpu.best_isa(cpu.cpu_flags())
    # AMX's tiles where the CPU has them, else VNNI's dot products (every CPU here has one)
    expected = {cpu.AMX: "amx_int8", "avx512_core_bf16": "vnni", "avx512_core_vnni": "vnni"}
    assert int8_convolution_share(found, expected.get(isa, "int8")) >= 0.9, found.rows()[:5]
