"""Memory under shape-diverse traffic: a stream of photos, no two of the same size, sent to a
real server in the default mode, FP32, INT8 and BF16. Every answer is a 200 with its boxes inside
the image, each worker's peak memory (its high-water mark, so a spike inside a forward pass counts)
stays within a bound, its memory stops growing once the stream is under way, and the canvases
the server says it used are the model's own, every one prepared when the model loaded. The
figures are printed; the full 240-photo run is ``sm-detect bench --shapes 240`` (BENCHMARKS.md).
"""

import re

import pytest

from inference import preprocess
from inference.metadata import ModelMetadata
from scripts.lib.archives import archive
from scripts.lib.bench import shapes
from tests.servers import running_server

pytestmark = pytest.mark.server
PHOTOS = 32
GROWTH_BOUND_MIB = 64  # over the last three quarters of the stream
PEAK_BOUND_MIB = {"fp32": 1536, "int8": 2048, "bf16": 2560}


def metadata_of(model_file, tmp_path):
    archive.safe_extract(str(model_file), str(tmp_path / "unpacked"))
    return ModelMetadata.from_json((tmp_path / "unpacked" / "model.json").read_text())


@pytest.mark.parametrize("precision", ["fp32", "int8", "bf16"])
def test_many_photo_shapes_leave_memory_bounded(
    precision, model_archive, int8_model_archive, bf16_model_archive, tmp_path
):
    model_file = {"fp32": model_archive, "int8": int8_model_archive, "bf16": bf16_model_archive}[
        precision
    ]
    metadata = metadata_of(model_file, tmp_path)
    assert metadata.precision == precision
    with running_server(model_file, tmp_path / "server") as server:
        assert f"{2 * len(metadata.buckets) - 1} input shape(s) of mode aspect warmed" in (
            server.log
        )
        streamed = shapes.stream(server.url, str(tmp_path / "server"), PHOTOS, metadata=metadata)
    print(f"\n{precision}: {streamed.summary()}")
    assert streamed.failures == []
    assert len(streamed.rss_start_mib) == 1  # the tests' servers have one worker
    assert streamed.growth_last_three_quarters_mib <= GROWTH_BOUND_MIB
    assert streamed.high_water_mib and streamed.peak_mib <= PEAK_BOUND_MIB[precision]
    # the canvases the server used, by its own log: the model's, and most of them reached
    used = re.findall(r"canvas=(\d+)x(\d+)", server.log)
    assert len(used) == PHOTOS
    allowed = preprocess.canvas_shapes(short=metadata.short, buckets=metadata.buckets)
    assert {(int(height), int(width)) for width, height in used} <= set(allowed)
    assert len(set(used)) >= len(metadata.buckets)
