"""The top-k detection head gives GluonCV's own detections, from a smaller graph."""

import json

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

from inference import model, postprocess, preprocess
from scripts.lib.archives import detection_head


def network(model_dir, symbol_file):
    net = gluon.nn.SymbolBlock.imports(
        str(model_dir / symbol_file), ["data"], str(model_dir / model.PARAMS_FILE)
    )
    net.hybridize(static_alloc=True)
    return net


def test_same_detections_as_gluoncvs_graph(model_dir, photos):
    # our graph's candidates through postprocessing's NMS keep, to the bit, the rows GluonCV's
    # graph keeps with MXNet's box_nms
    ours = network(model_dir, model.SYMBOL_FILE)
    gluoncv = network(model_dir, model.GLUONCV_SYMBOL_FILE)
    suppression = model.read_metadata(str(model_dir / model.METADATA_FILE)).suppression
    assert suppression is not None  # NMS is postprocessing's in a new archive
    detections = 0
    for mode in ("aspect", "square320"):
        for photo in photos.values():
            tensor = preprocess.to_tensor(photo, mode)
            expected = [
                output.asnumpy().reshape(-1, width)
                for output, width in zip(gluoncv(tensor), (1, 1, 4), strict=True)
            ]
            ids, scores, boxes = (output.asnumpy() for output in ours(tensor))
            kept = postprocess.suppress(
                ids.reshape(-1), scores.reshape(-1), boxes.reshape(-1, 4), suppression
            )
            found = int((expected[0] >= 0).sum())
            detections += found
            assert len(kept) == found
            np.testing.assert_array_equal(ids.reshape(-1, 1)[kept], expected[0][:found])
            np.testing.assert_array_equal(scores.reshape(-1, 1)[kept], expected[1][:found])
            np.testing.assert_array_equal(boxes.reshape(-1, 4)[kept], expected[2][:found])
    assert detections > 100, "few detections: a weak comparison"


def test_the_dense_per_class_rows_are_gone(model_dir):
    def ops(symbol_file):
        nodes = json.loads(mx.sym.load(str(model_dir / symbol_file)).tojson())["nodes"]
        return [node["op"] for node in nodes]

    assert ops(model.GLUONCV_SYMBOL_FILE).count("tile") == 3  # one per output scale
    assert "tile" not in ops(model.SYMBOL_FILE)
    assert ops(model.SYMBOL_FILE).count("topk") == 1
    assert "_contrib_box_nms" not in ops(model.SYMBOL_FILE)


def test_a_graph_without_nms_is_refused():
    data = mx.sym.var("data")
    with pytest.raises(detection_head.UnexpectedGraph, match="one _contrib_box_nms"):
        detection_head.rewrite(mx.sym.relu(data), num_classes=80)
