"""The machine a benchmark ran on, and the rates its cores can reach.

Two kinds of peak: the theoretical one from the CPU's description (cores x FP32 lanes of its
widest vector unit x 2 FMA units x 2 FLOPs x clock), and the practical ones, measured by oneDNN
itself (the library MXNet's convolutions run on) on a large 1x1 convolution, in FP32 and in
INT8. The theoretical figure is only as good as what it assumes: the clock is /proc/cpuinfo's
(often the base, not the boost clock), every core has two FMA units, and a 512-bit instruction
counts 16 lanes although AMD cores before Zen 5 execute it on 256-bit units in two halves.
"""

import json
import os
import platform
import time
from collections.abc import Callable, Collection
from typing import Any

from inference import cpu

FMA_UNITS = 2  # per core, on every x86 server core since Haswell and Zen 1


def cpu_info(path: str = "/proc/cpuinfo") -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo, as a dict."""
    fields = {}
    try:
        with open(path, encoding="utf-8") as file:
            for line in file:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def fp32_lanes(vendor: str, family: int, flags: Collection[str]) -> int:
    """FP32 lanes of the widest vector instructions: 16 with AVX-512, 8 with AVX2/FMA, else 4."""
    if "avx512f" in flags:
        return 16
    if "fma" in flags and "avx2" in flags:
        return 8
    return 4


def describe(cores: int | None = None) -> dict[str, Any]:
    """CPU model, cores, vector flags, clock and the theoretical FP32 peak in GFLOP/s."""
    info = cpu_info()
    flags = set(info.get("flags", "").split())
    cores = cores or os.cpu_count() or 1
    vendor = info.get("vendor_id", "")
    family = int(info.get("cpu family", "0") or 0)
    clock_ghz = float(info.get("cpu MHz", "0") or 0) / 1000
    lanes = fp32_lanes(vendor, family, flags)
    # /proc/cpuinfo's "siblings" counts a socket's hardware threads, "cpu cores" its cores
    threads_per_core = max(1, int(info.get("siblings", 1)) // max(1, int(info.get("cpu cores", 1))))
    best = cpu.best_isa(frozenset(flags))
    isa = cpu.effective_isa(
        frozenset(flags),
        os.environ.get(cpu.ISA_VARIABLE),
        best == cpu.AMX and cpu.request_tile_state(),
    )
    return {
        "cpu": info.get("model name", platform.processor() or "unknown"),
        "isa": isa,  # oneDNN's, as the server's workers will use it
        "kind": cpu.kind(isa),
        "vendor": vendor,
        "family": family,
        "cores": cores,
        "physical_cores": max(1, cores // threads_per_core),
        "clock_ghz": round(clock_ghz, 3),
        "flags": sorted(
            flags
            & {
                "avx",
                "avx2",
                "fma",
                "avx512f",
                "avx512_vnni",
                "avx512_bf16",
                "amx_int8",
                "amx_bf16",
            }
        ),
        "fp32_lanes": lanes,
        "theoretical_gflops": round(cores * lanes * FMA_UNITS * 2 * clock_ghz, 1),
    }


def onednn_peaks(repeats: int = 5, channels: int = 1024, side: int = 64) -> dict[str, float]:
    """GOP/s oneDNN reaches on a 1x1 convolution (``channels`` in and out, ``side`` x ``side``).

    The best of ``repeats`` runs, FP32 and quantized to INT8 as the model is (MXNet's
    ``quantize_net_v2``, naive calibration): what this CPU gives the model's own kernels, which
    numpy's BLAS is no measure of. The best, not the median: a neighbour's burst on a shared host
    only ever lowers it.
    """
    import mxnet as mx
    from mxnet import gluon
    from mxnet.contrib.quantization import quantize_net_v2

    from scripts.lib.archives.quantize import native_stderr_silenced

    data = mx.sym.var("data")
    conv = mx.sym.Convolution(data, num_filter=channels, kernel=(1, 1), no_bias=True, name="c")
    network = gluon.nn.SymbolBlock(conv, [data])
    network.initialize(mx.init.Xavier())
    shape = (1, channels, side, side)
    sample = mx.nd.random.uniform(shape=shape)
    network(sample)
    calibration = mx.io.NDArrayIter(sample, batch_size=1)
    with native_stderr_silenced():
        quantized = quantize_net_v2(
            network, calib_data=calibration, calib_mode="naive", num_calib_examples=1
        )
    operations = 2 * channels * channels * side * side
    figures = {}
    for name, block in (("fp32", network), ("int8", quantized)):
        block.hybridize(static_alloc=True)
        figures[f"{name}_gops"] = operations / best_seconds(block, sample, repeats) / 1e9
    bf16 = bf16_convolution(channels, shape)
    figures["bf16_gops"] = operations / best_seconds(bf16, sample, repeats) / 1e9
    return figures


def best_seconds(run: Callable[[Any], Any], sample: Any, repeats: int) -> float:
    """The best of ``repeats`` timed calls of ``run(sample)``, after one untimed."""
    run(sample).wait_to_read()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        run(sample).wait_to_read()
        seconds.append(time.perf_counter() - started)
    return min(seconds)


def bf16_convolution(channels: int, shape: tuple[int, ...]) -> Callable[[Any], Any]:
    """``run(sample)`` for the same 1x1 convolution in BF16 (the input cast in, the output cast
    back), bound as MXNet binds the BF16 archive's graph."""
    import mxnet as mx
    import numpy as np

    graph = {
        "nodes": [
            {"op": "null", "name": "data", "inputs": []},
            {"op": "amp_cast", "name": "in", "attrs": {"dtype": "bfloat16"}, "inputs": [[0, 0, 0]]},
            {"op": "null", "name": "c_weight", "inputs": []},
            {
                "op": "Convolution",
                "name": "c",
                "attrs": {"kernel": "(1, 1)", "num_filter": str(channels), "no_bias": "True"},
                "inputs": [[1, 0, 0], [2, 0, 0]],
            },
            {"op": "amp_cast", "name": "out", "attrs": {"dtype": "float32"}, "inputs": [[3, 0, 0]]},
        ],
        "arg_nodes": [0, 2],
        "heads": [[4, 0, 0]],
        "attrs": {"mxnet_version": ["int", 10901]},
    }
    bfloat16 = np.dtype([("bfloat16", np.uint16)])
    executor = mx.sym.load_json(json.dumps(graph)).simple_bind(
        mx.cpu(), data=shape, type_dict={"data": np.float32, "c_weight": bfloat16}
    )

    def run(sample: Any) -> Any:
        return executor.forward(data=sample)[0]

    return run
