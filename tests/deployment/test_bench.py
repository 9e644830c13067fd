"""The benchmark harness: its counting is right, and a quick run produces sane figures.

The quick run asserts that every figure exists and is positive and finite, never that it beats a
number: speed is reported by `make bench`, not asserted.
"""

import http.server
import json
import math
import subprocess
import threading

import mxnet as mx
import pytest
import requests

from inference import cpu
from scripts.lib.bench import inprocess, load, machine
from tests.helpers import LONG_COMMAND_SECONDS, SM_DETECT


def test_conv_flops_of_one_convolution():
    data = mx.sym.var("data")
    symbol = mx.sym.Convolution(data, num_filter=8, kernel=(3, 3), pad=(1, 1), name="conv")
    # 10 x 10 outputs x 8 channels x (3 x 3 x 3) multiply-adds, 2 FLOPs each
    assert inprocess.conv_flops(symbol, 10, 10) == 2 * 10 * 10 * 8 * 27
    strided = mx.sym.Convolution(data, num_filter=4, kernel=(1, 1), stride=(2, 2), name="s")
    assert inprocess.conv_flops(strided, 10, 10, batch=2) == 2 * 2 * 5 * 5 * 4 * 3


def test_yolov3_flops_match_darknets_published_count(model_dir):
    # darknet prints 65.864 BFLOPs for yolov3-416 (its convolutions, 2 FLOPs per multiply-add)
    symbol = mx.sym.load(str(model_dir / "model-symbol.json"))
    assert inprocess.conv_flops(symbol, 416, 416) / 1e9 == pytest.approx(65.864, rel=0.005)


@pytest.mark.parametrize(
    "vendor, family, flags, lanes",
    [
        ("GenuineIntel", 6, {"avx512f", "avx2", "fma"}, 16),
        ("AuthenticAMD", 25, {"avx512f", "avx2", "fma"}, 16),  # Zen 4: counted as the widest
        ("AuthenticAMD", 26, {"avx512f", "avx2", "fma"}, 16),  # Zen 5: full-width units
        ("GenuineIntel", 6, {"avx2", "fma"}, 8),
        ("GenuineIntel", 6, {"sse4_2"}, 4),
    ],
)
def test_fp32_lanes(vendor, family, flags, lanes):
    assert machine.fp32_lanes(vendor, family, flags) == lanes


def test_load_counts_every_answer_by_status():
    answered = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            answered.append(1)
            self.send_response(500 if len(answered) % 3 == 0 else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = load.post_loop(f"http://127.0.0.1:{port}/", b"x", {}, concurrency=3, total=12)
    finally:
        server.shutdown()
    assert len(answered) == 12
    assert result.statuses == {200: 8, 500: 4}
    assert result.ok == len(result.seconds) == 8 and result.server_errors == 4
    assert result.images_per_second == pytest.approx(8 / result.wall)


def finite_positive_numbers(document, path="figures"):
    """Every number in ``document`` with its path, for a sanity check."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield from finite_positive_numbers(value, f"{path}.{key}")
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from finite_positive_numbers(value, f"{path}[{index}]")
    elif isinstance(document, int | float) and not isinstance(document, bool):
        yield path, document


@pytest.mark.server
@pytest.mark.compat
def test_quick_benchmark_produces_sane_figures(model_archive, tmp_path, server):
    # `server` runs beside the benchmark, as a user's own server may: it must outlive it
    report, raw = tmp_path / "BENCHMARKS.md", tmp_path / "figures.json"
    command = [SM_DETECT, "bench", "--quick", "--model", str(model_archive)]
    result = subprocess.run(
        [*command, "--output", str(report), "--json", str(raw)],
        capture_output=True,
        text=True,
        timeout=LONG_COMMAND_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    figures = json.loads(raw.read_text())

    # the measurements; the machine's description may hold zeros (a clock /proc/cpuinfo lacks)
    measured = {
        path: value
        for part in ("in_process", "served")
        for path, value in finite_positive_numbers(figures[part], part)
    }
    errors = {path for path in measured if path.endswith(("errors_5xx", "failed"))}
    assert all(measured[path] == 0 for path in errors), {p: measured[p] for p in errors}
    # a histogram's buckets are counts, most of them empty (checked below)
    figures_only = {p: v for p, v in measured.items() if p not in errors and ".buckets[" not in p}
    bad = {p: v for p, v in figures_only.items() if not (math.isfinite(v) and v > 0)}
    assert not bad, bad

    assert figures["machine"]["cores"] >= 1
    assert figures["machine"]["isa"] == cpu.effective_isa(
        cpu.cpu_flags(), None, cpu.best_isa(cpu.cpu_flags()) == cpu.AMX
    )
    assert set(figures["served"]) == {"aws", "ours", "ours-int8", "ours-bf16"}
    for precision in ("int8", "bf16"):
        assert figures["in_process"]["peaks"][f"{precision}_gops"] > 0
        forward = figures["in_process"][f"forward_{precision}"]
        assert set(forward) == set(figures["in_process"]["forward"])
    assert set(figures["profile"]) == {"fp32", "int8", "bf16"}
    assert figures["profile"]["int8"]["reference_share"] <= 0.05
    peers = figures["in_process"]["peers"]
    assert peers["mxnet_fp32"] and peers["mxnet_int8"] and peers["openvino_fp32"]["seconds"]
    for stack in figures["served"].values():
        assert stack["workers"] >= 1 and len(stack["peak_rss_bytes"]) == stack["workers"]
        assert stack["cold_start"]["first_answer"] >= stack["cold_start"]["ping"]
        for size in stack["sizes"].values():
            assert size["latency"]["50"] <= size["latency"]["99"]
            assert set(size["concurrency"]) == {"1", "2"}
    for name in ("ours", "ours-int8", "ours-bf16"):
        # the server counted every request the bench sent it, each in one bucket
        stack = figures["served"][name]
        histogram = stack["server_histogram"]
        assert histogram["count"] == stack["requests_posted"] > 0
        assert sum(n for _, n in histogram["buckets"]) == histogram["count"]
        assert set(histogram["stage_means"]) == {"decode", "forward", "encode"}
    text = report.read_text()
    assert "## The server's own latency histogram" in text
    for heading in ("## Machine", "## In process", "## Served latency", "## Targets", "OpenVINO"):
        assert heading in text
    assert "## Where the forward's time goes" in text and "**BF16**" in text
    assert f"INT8 p50 at c=1 vs FP32 on `{figures['machine']['isa']}`" in text
    assert text in result.stdout
    assert requests.get(f"{server.url}/ping", timeout=10).status_code == 200
