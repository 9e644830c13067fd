"""Build GluonCV's YOLOv3-darknet53 with the chosen weights and export it for serving.

Weights are ``pretrained`` (GluonCV's COCO weights, through its own model store), ``random``
(seeded, with the objectness made selective so a handful of boxes survive NMS, as with a trained
net), or the path of a ``.params`` file saved from a GluonCV YOLOv3 (``net.save_parameters``),
with its own class list for a fine-tuned model.
"""

import importlib.metadata
import os
import re
import shutil
from collections.abc import Sequence
from typing import Any

import mxnet as mx
import numpy as np
from gluoncv import model_zoo
from gluoncv.data import COCODetection

import inference
from inference import model
from inference.metadata import ModelMetadata
from scripts.lib.archives import detection_head
from scripts.lib.errors import CommandError

COCO_MODEL = "yolo3_darknet53_coco"
CUSTOM_MODEL = "yolo3_darknet53_custom"
RANDOM_SEED = 0
# Random weights: per output scale, a gain on the objectness logits and a bias, chosen (on
# scikit-image's photographs) so that a few dozen boxes pass NMS's 0.01 floor, not thousands.
OBJECTNESS_GAIN = (8.0, 16.0, 100.0)
OBJECTNESS_BIAS = -12.0
# Gluon names a constant's initializer after the Python object's id: "Constant_<name>_<id>"
CONSTANT_INITIALIZER = re.compile(r'"(Constant_[^"]*)_(\d+)"')


def read_classes(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as file:
            classes = [line.strip() for line in file if line.strip()]
    except OSError as error:
        raise CommandError(f"cannot read the class list {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise CommandError(f"{path} is not a UTF-8 text file of class names") from None
    if not classes:
        raise CommandError(f"{path} names no classes (one class name per line)")
    if len(set(classes)) != len(classes):
        raise CommandError(f"{path} names a class twice")
    return classes


def coco_classes() -> list[str]:
    return list(COCODetection.CLASSES)


Network = Any  # a GluonCV YOLOv3 HybridBlock (MXNet ships no type information)


def pretrained_network() -> Network:
    try:
        return model_zoo.get_model(COCO_MODEL, pretrained=True)
    except Exception as error:  # noqa: BLE001 - gluoncv raises bare exceptions for network failures
        raise CommandError(
            f"could not download GluonCV's pretrained {COCO_MODEL} weights ({error})",
            remedy="weights",
        ) from None


def blank_network(classes: Sequence[str] | None = None) -> Network:
    """The architecture without weights: COCO's, or a custom one for ``classes``."""
    if classes is None or list(classes) == coco_classes():
        return model_zoo.get_model(COCO_MODEL, pretrained=False, pretrained_base=False)
    return model_zoo.get_model(CUSTOM_MODEL, classes=classes, pretrained_base=False)


def random_network(classes: Sequence[str] | None = None, seed: int = RANDOM_SEED) -> Network:
    """A deterministic randomly initialised network whose objectness is selective."""
    mx.random.seed(seed)
    np.random.seed(seed)
    net = blank_network(classes)
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 3, 64, 64)))  # resolve deferred shapes before editing weights
    for output, gain in zip(net.yolo_outputs, OBJECTNESS_GAIN, strict=True):
        weight, bias = output.prediction.weight.data(), output.prediction.bias.data()
        for anchor in range(output._num_anchors):
            objectness = anchor * output._num_pred + 4  # layout: 4 box, 1 objectness, classes
            weight[objectness] *= gain
            bias[objectness] = OBJECTNESS_BIAS
        output.prediction.weight.set_data(weight)
        output.prediction.bias.set_data(bias)
    return net


def network_from_file(path: str, classes: Sequence[str] | None = None) -> Network:
    if not os.path.isfile(path):
        raise CommandError(f"weights file {path} does not exist")
    net = blank_network(classes)
    try:
        net.load_parameters(path)
    except (AssertionError, mx.base.MXNetError, ValueError) as error:
        raise CommandError(
            f"{path} does not hold YOLOv3-darknet53 weights for {len(net.classes)} classes: "
            f"{str(error).splitlines()[0]}"
        ) from None
    return net


def build_network(weights: str, classes: Sequence[str] | None = None) -> Network:
    if weights == "pretrained":
        if classes:
            raise CommandError("a class list goes with a weights file, not pretrained weights")
        return pretrained_network()
    if weights == "random":
        return random_network(classes)
    return network_from_file(weights, classes)


def export(
    net: Network,
    model_dir: str,
    weights: str,
    nms_threshold: float = 0.45,
    nms_topk: int = 400,
    post_nms: int = 100,
) -> ModelMetadata:
    """Write the hybridized network, ``model.json`` and ``code/`` into ``model_dir``."""
    os.makedirs(model_dir, exist_ok=True)
    net.set_nms(nms_thresh=nms_threshold, nms_topk=nms_topk, post_nms=post_nms)
    net.hybridize()
    net(mx.nd.zeros((1, 3, 416, 416)))
    net.export(os.path.join(model_dir, model.SYMBOL_FILE.replace("-symbol.json", "")), epoch=0)
    symbol_path = os.path.join(model_dir, model.SYMBOL_FILE)
    # GluonCV's own graph stays beside ours: the seed's, for the benchmark to compare against
    os.replace(symbol_path, os.path.join(model_dir, model.GLUONCV_SYMBOL_FILE))
    gluoncv_symbol = mx.sym.load(os.path.join(model_dir, model.GLUONCV_SYMBOL_FILE))
    head, nms = detection_head.rewrite(gluoncv_symbol, len(net.classes))
    head.save(symbol_path)
    for path in (symbol_path, os.path.join(model_dir, model.GLUONCV_SYMBOL_FILE)):
        renumber_constants(path)
    metadata = ModelMetadata(
        name=COCO_MODEL if list(net.classes) == coco_classes() else CUSTOM_MODEL,
        classes=tuple(net.classes),
        nms_threshold=nms["threshold"],
        nms_topk=nms["topk"],
        nms_valid_threshold=nms["valid_threshold"],
        nms_in_graph=False,
        post_nms=post_nms,
        weights=weights if weights in ("pretrained", "random") else os.path.basename(weights),
        exported_with={
            "mxnet": mx.__version__,
            "gluoncv": gluoncv_version(),
            "detection_head": "top-k before NMS (scripts/lib/archives/detection_head.py)",
        },
    )
    with open(os.path.join(model_dir, model.METADATA_FILE), "w", encoding="utf-8") as file:
        file.write(metadata.to_json())
    copy_code(os.path.join(model_dir, "code"))
    return metadata


def renumber_constants(symbol_path: str) -> None:
    """Number the constants' initializer names in order instead of by object id.

    The ids change from one run to the next, and with them the archive's bytes; the names are
    never looked up when the parameters come from the weights file.
    """
    with open(symbol_path, encoding="utf-8") as file:
        text = file.read()
    numbers: dict[str, int] = {}

    def renumbered(match: re.Match[str]) -> str:
        number = numbers.setdefault(match[2], len(numbers))
        return f'"{match[1]}_{number}"'

    with open(symbol_path, "w", encoding="utf-8") as file:
        file.write(CONSTANT_INITIALIZER.sub(renumbered, text))


def gluoncv_version() -> str:
    # gluoncv.__version__ says 0.11.0 in the 0.10.5.post0 wheel; the distribution knows better
    return importlib.metadata.version("gluoncv")


def copy_code(code_dir: str) -> None:
    """The inference package as SageMaker's ``code/`` entry point (``SAGEMAKER_PROGRAM`` default
    ``inference.py`` imports the ``inference`` package)."""
    source = os.path.dirname(inference.__file__)
    shutil.rmtree(code_dir, ignore_errors=True)
    shutil.copytree(
        source,
        os.path.join(code_dir, "inference"),
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
