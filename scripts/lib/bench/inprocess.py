"""What is measured inside one process: A, the seed's pipeline; B, the bare forward (FP32, INT8
and BF16); D, the same trunk in OpenVINO (what a CPU user would pick instead), next to ours; and
the peaks oneDNN reaches on this CPU in each precision.

Run as ``python -m scripts.lib.bench.inprocess SPEC.json`` in a child process, so that its OpenMP
and BLAS thread counts are set before MXNet and numpy start; prints one JSON document.
"""

import functools
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from inference import metadata
from scripts.lib.bench import machine, seed

Spec = dict[str, Any]  # what the parent process asks for (its JSON file)
Figures = dict[str, Any]


def timed(function: Callable[[], object], repeats: int, warm_up: int = 1) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``function``, after ``warm_up`` untimed ones."""
    for _ in range(warm_up):
        function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def conv_flops(symbol: Any, height: int, width: int, batch: int = 1) -> int:
    """FLOPs of every convolution of ``symbol`` for a batch x 3 x height x width input.

    2 x output pixels x weights per output channel x output channels, from the shapes MXNet
    infers for this input; the rest of the network (BatchNorm, activations, NMS) is not counted.
    """
    internals = symbol.get_internals()
    arg_shapes, out_shapes, _ = internals.infer_shape_partial(data=(batch, 3, height, width))
    args = dict(zip(internals.list_arguments(), arg_shapes, strict=True))
    outputs = dict(zip(internals.list_outputs(), out_shapes, strict=True))
    nodes = json.loads(symbol.tojson())["nodes"]
    total = 0
    for node in nodes:
        if node["op"] != "Convolution":
            continue
        weight = args[nodes[node["inputs"][1][0]]["name"]]  # (out, in / groups, kh, kw)
        _, _, out_height, out_width = outputs[node["name"] + "_output"]
        total += 2 * batch * out_height * out_width * weight[0] * weight[1] * weight[2] * weight[3]
    return total


def seed_pipeline(model_dir: str, images: dict[str, bytes], repeats: int) -> dict[str, list[float]]:
    """Baseline A: seconds per image, JPEG bytes to JSON text, for each image."""
    net = seed.model_fn(model_dir)

    def pipeline(body: bytes) -> tuple[str, str]:
        return seed.output_fn(
            seed.predict_fn(seed.input_fn(body, "image/jpeg"), net), "application/json"
        )

    return {
        label: timed(functools.partial(pipeline, body), repeats) for label, body in images.items()
    }


def bare_forward(
    model_dir: str,
    images: dict[str, bytes],
    modes: Sequence[str],
    reference: str,
    repeats: int,
    count_flops: bool = True,
) -> Figures:
    """Baseline B: seconds per forward pass on a prepared tensor, and its convolution FLOPs.

    An INT8 graph's convolutions are fused oneDNN nodes; its FLOPs are the FP32 graph's.
    """
    import mxnet as mx

    from inference import decode, model, preprocess

    detector = model.load_detector(model_dir)
    symbol = mx.sym.load(model.model_files(model_dir)[model.SYMBOL_FILE])
    preprocessing = detector.metadata.preprocessing

    def forward(tensor: Any) -> list[Any]:
        return [output.asnumpy() for output in detector(tensor)]

    results: Figures = {}
    for label, body in images.items():
        image = decode.decode(body, "image/jpeg")
        for mode in modes if label == reference else (preprocess.ASPECT,):
            tensor = preprocess.to_tensor(image, mode, **preprocessing)
            height, width = tensor.shape[2:]
            results[f"{label}/{mode}"] = {
                "input": [int(width), int(height)],
                "seconds": timed(functools.partial(forward, tensor), repeats),
            }
            if count_flops:
                results[f"{label}/{mode}"]["flops"] = conv_flops(symbol, height, width)
    return results


def trunk(model_dir: str) -> tuple[Any, dict[str, Any]]:
    """The network up to its three raw output maps (no decoding, no NMS), with its weights."""
    import mxnet as mx

    from inference import model
    from scripts.lib.archives.quantize import RAW_MAPS

    paths = model.model_files(model_dir)
    internals = mx.sym.load(paths[model.SYMBOL_FILE]).get_internals()
    symbol = mx.sym.Group([internals[name] for name in RAW_MAPS])
    saved = mx.nd.load(paths[model.PARAMS_FILE])
    needed = set(symbol.list_arguments() + symbol.list_auxiliary_states())
    return symbol, {k.split(":", 1)[1]: v for k, v in saved.items() if k.split(":", 1)[1] in needed}


def trunk_forward(
    model_dir: str, shape: tuple[int, int, int, int], repeats: int, precision: str = metadata.FP32
) -> list[float]:
    """Seconds per forward pass of ``model_dir``'s trunk on a ``shape`` input, in MXNet."""
    import mxnet as mx
    from mxnet import gluon

    from inference import model

    symbol, weights = trunk(model_dir)
    network = gluon.nn.SymbolBlock(symbol, [mx.sym.var("data")])
    for name, parameter in network.collect_params().items():
        # dtype as saved: INT8 graphs hold FP32 weights, BF16 ones BF16
        parameter._load_init(weights[name], mx.cpu(), cast_dtype=True, dtype_source="saved")
    model.hybridize(network, precision)
    data = mx.nd.random.uniform(shape=shape)
    return timed(lambda: [output.asnumpy() for output in network(data)], repeats)


def openvino_forward(
    model_dir: str, shape: tuple[int, int, int, int], repeats: int, threads: int, work_dir: str
) -> dict[str, Any] | None:
    """D: the FP32 trunk exported through MXNet's ONNX exporter and run by OpenVINO in FP32.

    OpenVINO cannot compile the whole graph (its NMS head); its default precision hint picks
    bf16 on CPUs that have it, so f32 is asked for. None when OpenVINO is not installed.
    """
    try:
        import openvino
    except ImportError:
        return None
    import mxnet as mx
    import numpy as np

    symbol, weights = trunk(model_dir)
    path = mx.onnx.export_model(
        symbol,
        weights,
        in_shapes=[shape],
        in_types=np.float32,
        onnx_file_path=f"{work_dir}/trunk.onnx",
    )
    core = openvino.Core()
    compiled = core.compile_model(
        core.read_model(path),
        "CPU",
        {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads},
    )
    data = np.random.default_rng(0).random(shape, dtype=np.float32)
    return {
        "version": openvino.__version__.split("-")[0],
        "seconds": timed(lambda: compiled(data), repeats),
    }


def peers(spec: Spec, shape: tuple[int, int, int, int], repeats: int, threads: int) -> Figures:
    """Ours and OpenVINO on the same trunk and input: FP32, INT8, and OpenVINO's FP32."""
    figures: Figures = {
        "input": [shape[3], shape[2]],
        "mxnet_fp32": trunk_forward(spec["model_dir"], shape, repeats),
        "openvino_fp32": openvino_forward(
            spec["model_dir"], shape, repeats, threads, spec["work_dir"]
        ),
    }
    for precision in (metadata.INT8, metadata.BF16):
        if spec.get(f"{precision}_model_dir"):
            figures[f"mxnet_{precision}"] = trunk_forward(
                spec[f"{precision}_model_dir"], shape, repeats, precision
            )
    return figures


def measure(spec: Spec) -> Figures:
    from inference import cpu

    cpu.prepare()  # before oneDNN first runs: the kernels the server's workers use
    images: dict[str, bytes] = {}
    for label, path in spec["images"].items():
        with open(path, "rb") as file:
            images[label] = file.read()
    repeats, threads = spec["repeats"], spec["threads"]
    figures: Figures = {
        "peaks": machine.onednn_peaks(repeats=max(3, min(repeats, 7))),
        "seed": seed_pipeline(spec["seed_model_dir"], images, repeats),
        "forward": bare_forward(
            spec["model_dir"], images, spec["modes"], spec["reference"], repeats
        ),
    }
    for precision in (metadata.INT8, metadata.BF16):
        if spec.get(f"{precision}_model_dir"):
            figures[f"forward_{precision}"] = bare_forward(
                spec[f"{precision}_model_dir"],
                images,
                spec["modes"],
                spec["reference"],
                repeats,
                count_flops=False,
            )
    width, height = figures["forward"][f"{spec['reference']}/aspect"]["input"]
    figures["peers"] = peers(spec, (1, 3, height, width), repeats, threads)
    return figures


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as spec_file:
        figures = measure(json.load(spec_file))
    json.dump(figures, sys.stdout)
