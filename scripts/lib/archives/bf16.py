"""BF16: the exported network's trunk in bfloat16, for CPUs with AMX (or AVX-512 BF16) kernels.

MXNet 1.9.1's automatic mixed precision does not convert this graph: with ``Concat`` in its FP32
list (which it needs, its inputs being of two types otherwise) ``amp.convert_model`` returns the
graph unchanged. The cast is therefore placed by hand, where the graph's two parts meet:

- the trunk, darknet53 and the three detection blocks (convolutions, batch norms, LeakyReLUs,
  residual adds, upsampling and channel concatenations), runs in BF16: one cast of the input
  image, and the trunk's parameters stored in BF16 (half the archive);
- every value that leaves the trunk is cast back to FP32: the three output convolutions' maps,
  and the feature maps the anchor grid is shaped on. The YOLO output decoding (sigmoid, exp,
  offsets and anchors) and the detection head (top-k) stay FP32, where 8-bit mantissas
  would move boxes and scores, and MXNet has no BF16 kernels for the head.
"""

import dataclasses
import json
import os
import shutil
from typing import Any

import mxnet as mx
import numpy as np

from inference import model, preprocess
from inference.metadata import BF16, ModelMetadata

OUTPUT_CONVOLUTIONS = tuple(f"yolov30_yolooutputv3{scale}_conv0_fwd" for scale in range(3))
KEPT_FP32 = [
    {
        "layers": "yolooutput* after the output convolutions, and the anchor grid",
        "reason": "box and score decoding: sigmoid, exp, offsets and anchors in FP32",
    },
    {
        "operators": "topk, gather_nd (the detection head; NMS runs after the network)",
        "reason": "no BF16 kernels",
    },
]


def trunk(nodes: list[dict]) -> set[int]:
    """The operator nodes the three output convolutions depend on."""
    pending = [index for index, node in enumerate(nodes) if node["name"] in OUTPUT_CONVOLUTIONS]
    if len(pending) != len(OUTPUT_CONVOLUTIONS):
        raise ValueError("not GluonCV's YOLOv3 export: its three output convolutions are missing")
    found: set[int] = set()
    while pending:
        index = pending.pop()
        if index not in found and nodes[index]["op"] != "null":
            found.add(index)
            pending += [source for source, _, _ in nodes[index]["inputs"]]
    return found


def cast(name: str, source: list, dtype: str) -> dict:
    return {"op": "amp_cast", "name": name, "attrs": {"dtype": dtype}, "inputs": [source]}


def with_bf16_trunk(graph: dict) -> dict:
    """``graph`` (the FP32 symbol's JSON) with its trunk in BF16 and casts at its borders."""
    nodes = graph["nodes"]
    inside = trunk(nodes)
    data = next(index for index, node in enumerate(nodes) if node["name"] == "data")
    rebuilt: list[dict] = []
    renumbered: dict[int, int] = {}
    casts: dict[tuple[int, int], int] = {}  # (source, output) -> its cast in the new graph

    def cast_of(source: int, output: int, dtype: str) -> list[int]:
        if (source, output) not in casts:
            name = f"{nodes[source]['name']}_{output}_to_{dtype}"
            rebuilt.append(cast(name, [renumbered[source], output, 0], dtype))
            casts[(source, output)] = len(rebuilt) - 1
        return [casts[(source, output)], 0, 0]

    for index, node in enumerate(nodes):
        node = dict(node)
        if node["op"] == "null" and node["name"] != "data":
            # a parameter's type comes from the graph now, not from the export's FP32 mark
            node["attrs"] = {k: v for k, v in node.get("attrs", {}).items() if k != "__dtype__"}
        inputs = []
        for source, output, version in node["inputs"]:
            if index in inside and source == data:
                inputs.append(cast_of(source, output, "bfloat16"))
            elif index not in inside and source in inside:
                inputs.append(cast_of(source, output, "float32"))
            else:
                inputs.append([renumbered[source], output, version])
        node["inputs"] = inputs
        rebuilt.append(node)
        renumbered[index] = len(rebuilt) - 1
    return {
        "nodes": rebuilt,
        "arg_nodes": [index for index, node in enumerate(rebuilt) if node["op"] == "null"],
        "heads": [
            [renumbered[source], output, version] for source, output, version in graph["heads"]
        ],
        "attrs": graph.get("attrs", {}),
    }


def folded_batch_norms(graph: dict, params: dict) -> tuple[dict, dict]:
    """``graph`` with each batch norm that only follows a convolution folded into it (the
    convolution's weights scaled, a bias added), and the parameters that go with it.

    In BF16 a batch norm is a pass of its own over each feature map (a fifth of the forward on
    AMX); folded, it costs nothing. FP32 keeps them: its graph is GluonCV's to the bit.
    """
    nodes = graph["nodes"]
    users: dict[int, int] = {}
    for node in nodes:
        for source, _, _ in node["inputs"]:
            users[source] = users.get(source, 0) + 1
    params = dict(params)
    replaced: dict[int, int] = {}  # a folded batch norm -> its convolution
    for index, node in enumerate(nodes):
        if node["op"] != "BatchNorm":
            continue
        convolution = node["inputs"][0][0]
        conv = nodes[convolution]
        if conv["op"] != "Convolution" or users[convolution] != 1:
            continue
        name = lambda entry: nodes[entry[0]]["name"]  # noqa: E731
        gamma, beta, mean, var = (params_of(params, name(entry)) for entry in node["inputs"][1:])
        if node["attrs"].get("fix_gamma", "True") in ("True", "true", "1"):
            gamma = np.ones_like(gamma)
        scale = gamma / np.sqrt(var + float(node["attrs"].get("eps", "1e-3")))
        weight_name = name(conv["inputs"][1])
        weight = params_of(params, weight_name)
        bias = (
            np.zeros_like(mean)
            if conv["attrs"].get("no_bias", "False") in ("True", "true", "1")
            else params_of(params, name(conv["inputs"][2]))
        )
        params[f"arg:{weight_name}"] = mx.nd.array(weight * scale.reshape(-1, 1, 1, 1))
        bias_name = f"{conv['name']}_folded_bias"
        params[f"arg:{bias_name}"] = mx.nd.array((bias - mean) * scale + beta)
        nodes.append({"op": "null", "name": bias_name, "inputs": []})
        conv["attrs"] = {**conv["attrs"], "no_bias": "False"}
        conv["inputs"] = [*conv["inputs"][:2], [len(nodes) - 1, 0, 0]]
        replaced[index] = convolution
    return reordered(graph, replaced), params


def params_of(params: dict, name: str) -> np.ndarray:
    for prefix in ("arg:", "aux:"):
        if prefix + name in params:
            return params[prefix + name].asnumpy().astype(np.float64)
    raise ValueError(f"no parameter {name}")


def reordered(graph: dict, replaced: dict[int, int]) -> dict:
    """``graph`` in topological order again, ``replaced`` nodes' users reading their
    replacement, the replaced nodes (and parameters no node reads) gone."""
    nodes = graph["nodes"]

    def resolved(entry: list[int]) -> list[int]:
        source, output, version = entry
        return [replaced.get(source, source), output if source not in replaced else 0, version]

    for node in nodes:
        node["inputs"] = [resolved(entry) for entry in node["inputs"]]
    heads = [resolved(entry) for entry in graph["heads"]]
    order: list[int] = []
    seen: set[int] = set()

    def visit(index: int) -> None:  # depth first from the heads: inputs before users
        stack = [(index, False)]
        while stack:
            current, expanded = stack.pop()
            if expanded:
                order.append(current)
            elif current not in seen:
                seen.add(current)
                stack.append((current, True))
                stack += [(source, False) for source, _, _ in reversed(nodes[current]["inputs"])]

    for source, _, _ in heads:
        visit(source)
    renumbered = {old: new for new, old in enumerate(order)}
    rebuilt = [
        {**nodes[old], "inputs": [[renumbered[s], o, v] for s, o, v in nodes[old]["inputs"]]}
        for old in order
    ]
    return {
        "nodes": rebuilt,
        "arg_nodes": [i for i, node in enumerate(rebuilt) if node["op"] == "null"],
        "heads": [[renumbered[s], o, v] for s, o, v in heads],
        "attrs": graph.get("attrs", {}),
    }


def bf16_copy(fp32_dir: str, bf16_dir: str, metadata: ModelMetadata) -> ModelMetadata:
    """``fp32_dir``'s model with its trunk in BF16, written into ``bf16_dir``; its metadata."""
    shutil.copytree(fp32_dir, bf16_dir)
    paths = model.model_files(bf16_dir)
    with open(paths[model.SYMBOL_FILE], encoding="utf-8") as file:
        graph, params = folded_batch_norms(json.load(file), mx.nd.load(paths[model.PARAMS_FILE]))
    graph = with_bf16_trunk(graph)
    with open(paths[model.SYMBOL_FILE], "w", encoding="utf-8") as file:
        json.dump(graph, file, indent=2)
    symbol = mx.sym.load(paths[model.SYMBOL_FILE])
    arg_types, _, aux_types = symbol.infer_type(data="float32")
    types = {
        **dict(zip(symbol.list_arguments(), arg_types, strict=True)),
        **dict(zip(symbol.list_auxiliary_states(), aux_types, strict=True)),
    }
    needed = set(types)
    converted = {}
    for key, value in params.items():
        if key.split(":", 1)[-1] not in needed:
            continue  # a folded batch norm's
        wanted = types.get(key.split(":", 1)[-1])
        converted[key] = (
            value.astype(wanted)
            if wanted is not None and np.dtype(wanted) != value.dtype
            else value
        )
    mx.nd.save(paths[model.PARAMS_FILE], converted)
    # GluonCV's FP32 graph is for the benchmark's seed baselines, which need FP32 weights
    os.remove(os.path.join(bf16_dir, model.GLUONCV_SYMBOL_FILE))
    return dataclasses.replace(metadata, precision=BF16, buckets=preprocess.LOWER_PRECISION_BUCKETS)


def how() -> dict[str, Any]:
    """What ``model.json`` says of how the BF16 network was made."""
    return {
        "library": f"mxnet {mx.__version__} (oneDNN), a cast at each border of the trunk",
        "bf16": "darknet53 and the detection blocks, their parameters stored in BF16",
        "kept_fp32": KEPT_FP32,
    }
