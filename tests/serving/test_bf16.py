"""BF16: an archive whose trunk runs in bfloat16, its agreement with FP32 recorded, served by the
same server on the CPU's BF16 kernels (AMX's tiles where the CPU has them)."""

import json

import pytest
import requests

from inference import cpu, model
from scripts.lib.archives import archive
from scripts.lib.bench import profile
from tests.servers import QUICK_START, post_image, running_server


@pytest.fixture(scope="module")
def bf16_dir(bf16_model_archive, tmp_path_factory):
    directory = tmp_path_factory.mktemp("bf16")
    archive.safe_extract(str(bf16_model_archive), str(directory))
    return directory


def test_the_archive_says_bf16_how_it_was_made_and_how_closely_it_agrees(bf16_dir, model_dir):
    metadata = json.loads((bf16_dir / model.METADATA_FILE).read_text())
    assert metadata["precision"] == "bf16"
    assert all(entry["reason"] for entry in metadata["conversion"]["kept_fp32"])
    assert metadata["preprocessing"]["buckets"] == [416, 555, 624, 740, 1024]
    images = metadata["agreement"]["images"]
    assert len(images) == 4 and metadata["agreement"]["totals"]["images"] == 4
    # half the size: the trunk's parameters are stored in BF16
    fp32_size = (model_dir / model.PARAMS_FILE).stat().st_size
    assert (bf16_dir / model.PARAMS_FILE).stat().st_size < 0.6 * fp32_size
    symbol = (bf16_dir / model.SYMBOL_FILE).read_text()
    assert symbol.count('"dtype": "bfloat16"') == 1  # one cast in, at the image
    assert '"BatchNorm"' not in symbol  # folded into the convolutions


def test_bf16_agrees_with_fp32_better_than_int8(bf16_model_archive, int8_model_archive, tmp_path):
    # the raw output maps' signal-to-noise against FP32's, as each archive recorded it
    def worst_sqnr(archive_file):
        archive.safe_extract(str(archive_file), str(tmp_path / archive_file.stem))
        recorded = json.loads((tmp_path / archive_file.stem / model.METADATA_FILE).read_text())
        return min(image["sqnr_db"] for image in recorded["agreement"]["images"])

    assert worst_sqnr(bf16_model_archive) > worst_sqnr(int8_model_archive) + 3


def test_the_bf16_forward_runs_on_bf16_kernels(bf16_dir):
    found = profile.profile(bf16_dir, runs=2)
    assert found.reference_share <= 0.05, found.rows()[:5]
    convolutions = found.share(lambda key: key[0] == "convolution")
    bf16 = found.share(lambda key: key[0] == "convolution" and "bf16" in key[1])
    expected = "amx_bf16" if cpu.best_isa(cpu.cpu_flags()) == cpu.AMX else "avx512_core_bf16"
    on_expected = found.share(lambda key: key[0] == "convolution" and expected in key[1])
    # all but the three FP32 output convolutions, about 5 % of the convolutions' time
    assert bf16 >= 0.9 * convolutions, found.rows()[:5]
    assert on_expected == pytest.approx(bf16), found.rows()[:5]


@pytest.mark.server
def test_the_same_server_serves_bf16(bf16_model_archive, tmp_path, astronaut_jpeg):
    # one canvas to warm: every canvas of BF16's is warmed and served in test_memory
    with running_server(bf16_model_archive, tmp_path / "server", **QUICK_START) as server:
        assert requests.get(f"{server.url}/ping", timeout=10).json() == {"status": "healthy"}
        answer = post_image(
            server, astronaut_jpeg, **{"X-Amzn-SageMaker-Custom-Attributes": "threshold=0"}
        )
        assert answer.status_code == 200, answer.text
        detections = answer.json()["detections"]
        assert detections and all(
            0 <= d["box"]["xmin"] <= d["box"]["xmax"] <= 512
            and 0 <= d["box"]["ymin"] <= d["box"]["ymax"] <= 512
            for d in detections
        )
        isa = cpu.best_isa(cpu.cpu_flags())
        assert f"bf16) on cpu(0), oneDNN ISA {isa}" in server.log
        # without AMX, BF16 is slower than FP32 there, and the server says so
        assert ("no AMX: BF16 runs" in server.log) == (isa != cpu.AMX)
