"""Rewrite the exported YOLOv3 graph's detection head: pick the top-k, and leave NMS to
postprocessing.

GluonCV's YOLOv3 turns every anchor into one row per class (80 x 3 x every grid cell: 1.1 million
rows for a 555x416 input), concatenates them, and lets ``box_nms`` keep the ``nms_topk`` best.
Building those rows (tile, transpose, concat on the innermost axis) costs about 15 % of the
forward pass on a CPU. Taking the ``nms_topk`` best (anchor, class) scores first and building only
those rows gives NMS the same candidates in the same order, so the same detections.

NMS itself runs after the network (``inference.postprocess.suppress``): MXNet's ``box_nms`` took
34 ms of a 125 ms INT8 forward on 400 candidates (an OpenMP region per candidate), the same
greedy suppression in numpy 3 to 5 ms, keeping the same rows to the bit.

The rewrite works on the exported symbol: the network up to each output layer's boxes and class
scores stays as GluonCV built it, with the same parameter names, so the weights file is unchanged.
"""

import json
from typing import Any, TypedDict

import mxnet as mx

NMS_OP = "_contrib_box_nms"


class UnexpectedGraph(ValueError):
    """The symbol is not laid out as GluonCV's YOLOv3 exports it."""


Symbol = Any  # an MXNet symbol (MXNet ships no type information)
Node = dict[str, Any]  # one node of a symbol's JSON


class NmsSettings(TypedDict):
    threshold: float
    valid_threshold: float
    topk: int


def rewrite(symbol: Symbol, num_classes: int) -> tuple[Symbol, NmsSettings]:
    """``symbol`` (GluonCV's YOLOv3) with the top-k head; outputs the ``nms_topk`` best
    candidates' ids, scores and boxes, best first, before NMS; and the NMS settings
    (``nms_settings``)."""
    nodes = json.loads(symbol.tojson())["nodes"]
    nms = single(nodes, NMS_OP)
    attrs = nms.get("attrs", {})
    topk = int(attrs.get("topk", "-1"))
    if topk <= 0:
        raise UnexpectedGraph("the top-k head needs nms_topk > 0")
    internals = symbol.get_internals()
    boxes: list[Symbol] = []
    scores: list[Symbol] = []
    for per_scale in inputs(nodes, input_of(nodes, nms, 0, "Concat")):
        detections = input_of(nodes, input_of(nodes, per_scale, 0, "transpose"), 0, "Concat")
        class_score = input_of(
            nodes, input_of(nodes, input_of(nodes, detections, 1, "expand_dims"), 0, "transpose"), 0
        )
        bbox = input_of(nodes, input_of(nodes, detections, 2, "tile"), 0)
        boxes.append(output(internals, bbox).reshape((0, -1, 4)))
        scores.append(output(internals, class_score).reshape((0, -1, num_classes)))
    if not boxes:
        raise UnexpectedGraph("no YOLO output layers feed the NMS")
    return top_k_candidates(
        mx.sym.concat(*boxes, dim=1), mx.sym.concat(*scores, dim=1), num_classes, topk
    ), nms_settings(attrs)


def nms_settings(attrs: dict[str, str]) -> NmsSettings:
    """GluonCV's NMS settings, as its ``box_nms`` node holds them."""
    if attrs.get("force_suppress", "False") in ("True", "1", "true"):
        raise UnexpectedGraph("class-agnostic NMS (force_suppress) is not supported")
    return {
        "threshold": float(attrs.get("overlap_thresh", "0.5")),
        "valid_threshold": float(attrs.get("valid_thresh", "0")),
        "topk": int(attrs["topk"]),
    }


def top_k_candidates(boxes: Symbol, scores: Symbol, num_classes: int, topk: int) -> Symbol:
    """(ids, scores, boxes) of the ``topk`` best (anchor, class) pairs, best first.

    ``boxes``: (batch, anchors, 4); ``scores``: (batch, anchors, classes). A flat index is
    ``anchor * classes + class``, exact in float32 up to 2**24 (1024x1024 inputs need 5.2 million).
    """
    best_scores, best = mx.sym.topk(
        scores.reshape((0, -1)), k=topk, axis=-1, ret_typ="both", is_ascend=False
    )
    anchor = mx.sym.floor(best / num_classes)
    class_id = best - anchor * num_classes
    batch = mx.sym.broadcast_like(
        mx.sym.contrib.arange_like(anchor, axis=0).reshape((-1, 1)), anchor
    )
    best_boxes = mx.sym.gather_nd(boxes, mx.sym.stack(batch, anchor, axis=0))
    return mx.sym.Group([class_id.expand_dims(-1), best_scores.expand_dims(-1), best_boxes])


def single(nodes: list[Node], op: str) -> Node:
    found = [node for node in nodes if node["op"] == op]
    if len(found) != 1:
        raise UnexpectedGraph(f"expected one {op} node, found {len(found)}")
    return found[0]


def inputs(nodes: list[Node], node: Node) -> list[Node]:
    return [nodes[entry[0]] for entry in node["inputs"]]


def input_of(nodes: list[Node], node: Node, index: int, op: str | None = None) -> Node:
    """The ``index``-th input of ``node``, checked to be an ``op`` node when given."""
    if index >= len(node["inputs"]):
        raise UnexpectedGraph(f"{node['name']} has no input {index}")
    found = nodes[node["inputs"][index][0]]
    if op is not None and found["op"] != op:
        raise UnexpectedGraph(f"{node['name']} input {index} is {found['op']}, expected {op}")
    return found


def output(internals: Symbol, node: Node) -> Symbol:
    return internals[node["name"] + "_output"]
