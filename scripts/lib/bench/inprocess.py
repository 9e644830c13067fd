"""Baselines measured inside one process: A, the seed's pipeline, and B, the bare forward.

Run as ``python -m scripts.lib.bench.inprocess SPEC.json`` in a child process, so that its OpenMP
and BLAS thread counts are set before MXNet and numpy start; prints one JSON document.
"""

import json
import sys
import time

from scripts.lib.bench import machine, seed


def timed(function, repeats, warm_up=1):
    """Seconds of each of ``repeats`` calls of ``function``, after ``warm_up`` untimed ones."""
    for _ in range(warm_up):
        function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def conv_flops(symbol, height, width, batch=1):
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


def seed_pipeline(model_dir, images, repeats):
    """Baseline A: seconds per image, JPEG bytes to JSON text, for each image."""
    net = seed.model_fn(model_dir)

    def pipeline(body):
        return seed.output_fn(seed.predict_fn(seed.input_fn(body, "image/jpeg"), net), None)

    return {
        label: timed(lambda body=body: pipeline(body), repeats) for label, body in images.items()
    }


def bare_forward(model_dir, images, modes, reference, repeats):
    """Baseline B: seconds per forward pass on a prepared tensor, and its convolution FLOPs."""
    import mxnet as mx

    from inference import decode, model, preprocess

    detector = model.load_detector(model_dir)
    symbol = mx.sym.load(model.model_files(model_dir)[model.SYMBOL_FILE])
    preprocessing = detector.metadata.preprocessing

    def forward(tensor):
        return [output.asnumpy() for output in detector(tensor)]

    results = {}
    for label, body in images.items():
        image = decode.decode(body, "image/jpeg")
        for mode in modes if label == reference else (preprocess.ASPECT,):
            tensor = preprocess.to_tensor(image, mode, **preprocessing)
            height, width = tensor.shape[2:]
            results[f"{label}/{mode}"] = {
                "input": [int(width), int(height)],
                "flops": conv_flops(symbol, height, width),
                "seconds": timed(lambda tensor=tensor: forward(tensor), repeats),
            }
    return results


def measure(spec):
    images = {}
    for label, path in spec["images"].items():
        with open(path, "rb") as file:
            images[label] = file.read()
    repeats = spec["repeats"]
    return {
        "gemm_gflops": machine.gemm_gflops(repeats=max(3, min(repeats, 7))),
        "seed": seed_pipeline(spec["seed_model_dir"], images, repeats),
        "forward": bare_forward(
            spec["model_dir"], images, spec["modes"], spec["reference"], repeats
        ),
    }


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as spec_file:
        figures = measure(json.load(spec_file))
    json.dump(figures, sys.stdout)
