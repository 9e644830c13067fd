"""INT8's residual additions folded into the convolutions before them, as oneDNN sum post-ops.

darknet53 adds each residual block's input to the output of its second convolution after the
activation (conv -> batch norm -> LeakyReLU -> add). MXNet's fusion pass fuses an add only before
the activation (ResNet's order), so ``quantize_net_v2`` leaves darknet's 23 adds as separate
``_contrib_quantized_elemwise_add`` nodes, which oneDNN 2.4 runs on its reference kernel (``sum,
ref:any``, signed 8-bit in NHWC): 27 % of the INT8 forward's oneDNN time with AMX, 14 % with VNNI.

MXNet's fused convolution (``_sg_mkldnn_conv``) applies its post-ops in the order of its
subgraph: the activation (``with_act``), then the sum (``with_sum``), which is darknet's order.
So each add whose one operand is a fused convolution used by nothing else becomes that
convolution with ``with_sum``: the add appended to its subgraph, the other operand (and its
range) as the sum input, the add's calibrated range as the output's. The sum is then written
into the shortcut's buffer by the convolution's own kernel, in one pass.
"""

import json

FUSED_CONV = "_sg_mkldnn_conv"
QUANTIZED_ADD = "_contrib_quantized_elemwise_add"


def fuse(graph: dict) -> tuple[dict, int]:
    """``graph`` (a symbol's JSON, as a dict) with its residual adds fused; how many were."""
    nodes = graph["nodes"]
    consumers: dict[int, set[int]] = {}
    for index, node in enumerate(nodes):
        for source, _, _ in node["inputs"]:
            consumers.setdefault(source, set()).add(index)
    for source, _, _ in graph["heads"]:
        consumers.setdefault(source, set()).add(-1)
    dropped = set()
    for index, node in enumerate(nodes):
        if node["op"] != QUANTIZED_ADD:
            continue
        operands = (node["inputs"][0][0], node["inputs"][1][0])
        convolutions = [
            operand
            for operand in operands
            if nodes[operand]["op"] == FUSED_CONV
            and nodes[operand]["attrs"].get("with_act") == "true"
            and nodes[operand]["attrs"].get("with_sum") != "true"
            and consumers.get(operand) == {index}
        ]
        if not convolutions:
            continue
        convolution = max(convolutions)  # the later one: the shortcut is computed before it
        shortcut = operands[1] if convolution == operands[0] else operands[0]
        nodes[index] = with_sum(nodes[convolution], node, shortcut)
        dropped.add(convolution)
    return without(graph, dropped), len(dropped)


def with_sum(convolution: dict, add: dict, shortcut: int) -> dict:
    """``convolution`` fused with ``add``: the shortcut's output is summed into its result."""
    subgraph = json.loads(json.dumps(convolution["subgraphs"][0]))
    sum_input = len(subgraph["nodes"])
    subgraph["nodes"].append({"op": "null", "name": f"{add['name']}_sum_input", "inputs": []})
    subgraph["nodes"].append(
        {
            "op": "elemwise_add",
            "name": f"{add['name']}_sum",
            "inputs": [subgraph["heads"][0], [sum_input, 0, 0]],
        }
    )
    subgraph["arg_nodes"].append(sum_input)
    subgraph["heads"] = [[sum_input + 1, 0, 0]]
    subgraph["node_row_ptr"] = list(range(len(subgraph["nodes"]) + 1))
    # inputs: the convolution's (data, weights, batch norm), the sum, then the data's range and
    # the sum's
    *parameters, data_min, data_max = convolution["inputs"]
    return {
        "op": FUSED_CONV,
        "name": convolution["name"] + "_add",
        "attrs": {
            **convolution["attrs"],
            "with_sum": "true",
            "min_calib_range": add["attrs"]["min_calib_range"],
            "max_calib_range": add["attrs"]["max_calib_range"],
        },
        "inputs": [
            *parameters,
            [shortcut, 0, 0],
            data_min,
            data_max,
            [shortcut, 1, 0],
            [shortcut, 2, 0],
        ],
        "subgraphs": [subgraph],
    }


def without(graph: dict, dropped: set[int]) -> dict:
    """``graph`` without the nodes ``dropped`` (used by nothing any more), renumbered."""
    renumbered: dict[int, int] = {}
    kept: list[dict] = []
    for index, node in enumerate(graph["nodes"]):
        if index not in dropped:
            renumbered[index] = len(kept)
            kept.append(node)
    for node in kept:
        node["inputs"] = [
            [renumbered[source], output, version] for source, output, version in node["inputs"]
        ]
    result = {key: value for key, value in graph.items() if key != "node_row_ptr"}
    result["nodes"] = kept
    result["arg_nodes"] = [renumbered[index] for index in graph["arg_nodes"]]
    result["heads"] = [
        [renumbered[source], output, version] for source, output, version in graph["heads"]
    ]
    return result


def fuse_file(symbol_file: str) -> int:
    """Fuse the residual adds of the symbol saved in ``symbol_file``, in place; how many."""
    with open(symbol_file, encoding="utf-8") as file:
        graph = json.load(file)
    fused_graph, count = fuse(graph)
    with open(symbol_file, "w", encoding="utf-8") as file:
        json.dump(fused_graph, file, indent=2)
    return count
