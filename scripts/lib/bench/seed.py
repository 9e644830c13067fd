"""The seed's entry point, kept as the benchmark's baseline: what users of the seed ran.

The exported network loaded with ``SymbolBlock.imports``, the JPEG decoded by ``mx.image.imdecode``
and sized by GluonCV's ``transform_test``, the raw outputs concatenated into one JSON list.
The benchmark runs it in process (baseline A) and as the entry point of AWS's own MXNet serving
container (baseline C). Self-contained on purpose: it is copied into a model's ``code/``.
"""

import json
import os
from typing import Any

import mxnet as mx
from gluoncv.data.transforms.presets import yolo
from mxnet import gluon


def model_fn(model_dir: str) -> Any:
    return gluon.nn.SymbolBlock.imports(
        os.path.join(model_dir, "model-symbol.json"),
        ["data"],
        os.path.join(model_dir, "model-0000.params"),
    )


def input_fn(request_body: bytes, content_type: str) -> Any:
    image = mx.image.imdecode(request_body)
    tensor, _ = yolo.transform_test(image, short=416)
    return tensor


def predict_fn(tensor: Any, net: Any) -> Any:
    ids, scores, boxes = net(tensor)
    return mx.nd.concat(ids, scores, boxes, dim=-1)


def output_fn(prediction: Any, accept: str) -> tuple[str, str]:
    return json.dumps(prediction.asnumpy().tolist()), "application/json"
