"""The top-k detection head gives GluonCV's own detections, from a smaller graph."""

import json

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

from inference import model, preprocess
from scripts.lib.archives import detection_head


def network(model_dir, symbol_file):
    net = gluon.nn.SymbolBlock.imports(
        str(model_dir / symbol_file), ["data"], str(model_dir / model.PARAMS_FILE)
    )
    net.hybridize(static_alloc=True)
    return net


def test_same_detections_as_gluoncvs_graph(model_dir, photos):
    ours = network(model_dir, model.SYMBOL_FILE)
    gluoncv = network(model_dir, model.GLUONCV_SYMBOL_FILE)
    detections = 0
    for mode in ("aspect", "square320"):
        for photo in photos.values():
            tensor = preprocess.to_tensor(photo, mode)
            expected = [output.asnumpy() for output in gluoncv(tensor)]
            actual = [output.asnumpy() for output in ours(tensor)]
            detections += int((expected[0] >= 0).sum())
            for mine, theirs in zip(actual, expected, strict=True):
                assert mine.shape == theirs.shape
                np.testing.assert_array_equal(mine, theirs)
    assert detections > 100, "few detections: a weak comparison"


def test_the_dense_per_class_rows_are_gone(model_dir):
    def ops(symbol_file):
        nodes = json.loads(mx.sym.load(str(model_dir / symbol_file)).tojson())["nodes"]
        return [node["op"] for node in nodes]

    assert ops(model.GLUONCV_SYMBOL_FILE).count("tile") == 3  # one per output scale
    assert "tile" not in ops(model.SYMBOL_FILE)
    assert ops(model.SYMBOL_FILE).count("topk") == 1


def test_a_graph_without_nms_is_refused():
    data = mx.sym.var("data")
    with pytest.raises(detection_head.UnexpectedGraph, match="one _contrib_box_nms"):
        detection_head.rewrite(mx.sym.relu(data), num_classes=80, post_nms=100)
