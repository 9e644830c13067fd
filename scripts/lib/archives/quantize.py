"""INT8: the exported network quantized with MXNet's own oneDNN INT8, calibrated as it is served.

``quantize_net_v2`` (MXNet 1.9.1) fuses each convolution with its batch norm and activation,
quantizes the fused convolutions and the residual additions to 8 bits, and calibrates the
activations' ranges on images (``naive``: the minimum and maximum seen). The calibration images
are decoded and prepared exactly as the server prepares a request, in the archive's mode.

What stays FP32, and why (recorded in ``model.json``):

- every layer of the three YOLO output blocks (``yolooutput``): the 1x1 prediction convolutions
  (about 1 % of the FLOPs) and the box decoding after them, where 8-bit rounding would move box
  corners and scores for no measurable gain;
- ``Concat`` on the last axis, which MXNet's quantized Concat cannot do (it says so, and leaves
  them FP32 itself);
- the detection head (top-k, gather): MXNet has no quantized kernels for it; NMS runs after the
  network, in postprocessing.
"""

import contextlib
import dataclasses
import os
import shutil
import stat
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

import mxnet as mx
import numpy as np
from mxnet import gluon
from tqdm import tqdm

from inference import decode, model, postprocess, preprocess
from inference.errors import RequestError
from inference.metadata import INT8, ModelMetadata
from inference.params import RequestParams
from scripts.lib.archives import agreement, residual_sum
from scripts.lib.errors import CommandError
from scripts.lib.progress import say

CALIBRATION_METHOD = "naive"
KEPT_FP32 = [
    {
        "layers": "yolooutput*",
        "reason": "the output convolutions (about 1 % of the FLOPs) and the box decoding: "
        "8-bit rounding would move boxes and scores for no measurable gain",
    },
    {
        "operators": "Concat (last axis)",
        "reason": "MXNet's quantized Concat supports only axes above 0",
    },
    {
        "operators": "topk, gather_nd (the detection head; NMS runs after the network)",
        "reason": "no quantized kernels",
    },
]
# the first reshape after each output convolution holds its raw map, in both graphs
RAW_MAPS = tuple(f"yolov30_yolooutputv3{scale}_reshape0_output" for scale in range(3))
VALIDATION_SHARE = 5  # by default a fifth of the calibration folder is held back


Network = Any  # an MXNet Gluon block (MXNet ships no type information)
Tensor = Any  # an MXNet NDArray


def image_files(folder: str) -> list[str]:
    """The image files directly in ``folder`` that the server's decoder reads, sorted.

    Links are not followed (a link could lead out of the folder) and files the decoder refuses
    are skipped; both are said, one line each.
    """
    if not os.path.isdir(folder):
        raise CommandError(f"{folder} is not a folder of images")
    found = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            say(f"skipped {path}: a link, not followed")
            continue
        if not stat.S_ISREG(mode):
            continue
        with open(path, "rb") as file:
            try:
                decode.decode_image(file.read(), decode.DEFAULT_MAX_PIXELS)
            except RequestError as error:
                say(f"skipped {path}: {error.message}")
                continue
        found.append(path)
    return found


def split(
    calibration_folder: str, count: int | None = None, validation_folder: str | None = None
) -> tuple[list[str], list[str]]:
    """(calibration files, validation files).

    Without a validation folder, a fifth of the calibration folder (at least one image) is held
    back for validation, and calibration never sees it.
    """
    files = image_files(calibration_folder)
    if not files:
        raise CommandError(f"{calibration_folder} holds no image this server reads")
    if validation_folder:
        validation = image_files(validation_folder)
        if not validation:
            raise CommandError(f"{validation_folder} holds no image this server reads")
        calibration = files
    else:
        held_back = max(1, len(files) // VALIDATION_SHARE)
        if len(files) <= held_back:
            raise CommandError(
                f"{calibration_folder} has {len(files)} image(s): at least 2 are needed, one to "
                "calibrate and one to validate",
                remedy="validate",
            )
        calibration, validation = files[:-held_back], files[-held_back:]
    if count:
        calibration = calibration[:count]
    return calibration, validation


def prepared(path: str, metadata: ModelMetadata, mode: str) -> tuple[np.ndarray, Tensor]:
    """``path`` as the server prepares it: decoded, oriented, sized for the network."""
    with open(path, "rb") as file:
        image = decode.decode_image(file.read())
    return image, preprocess.to_tensor(image, mode, **metadata.preprocessing)


class Calibration(mx.io.DataIter):
    """The calibration tensors one at a time, each in its own shape (MXNet re-binds per shape)."""

    def __init__(self, tensors: Sequence[Tensor], progress: tqdm) -> None:
        super().__init__(batch_size=1)
        self.tensors, self.progress, self.position = tensors, progress, 0

    @property
    def provide_data(self) -> list[Any]:
        return [mx.io.DataDesc("data", self.tensors[0].shape)]

    @property
    def provide_label(self) -> list[Any]:
        return []

    def reset(self) -> None:
        self.position = 0

    def next(self) -> Any:
        if self.position >= len(self.tensors):
            raise StopIteration
        tensor = self.tensors[self.position]
        self.position += 1
        self.progress.update(1)
        return mx.io.DataBatch(data=[tensor], label=[], provide_data=[("data", tensor.shape)])


def quantize(model_dir: str, tensors: Sequence[Tensor]) -> Network:
    """The network in ``model_dir`` quantized to INT8, calibrated on ``tensors``."""
    from mxnet.contrib.quantization import quantize_net_v2

    paths = model.model_files(model_dir)
    network = gluon.nn.SymbolBlock.imports(
        paths[model.SYMBOL_FILE], ["data"], paths[model.PARAMS_FILE], ctx=mx.cpu()
    )
    # MXNet's C++ core logs each Concat it leaves FP32: not for users, who see the progress
    with (
        native_stderr_silenced() as terminal,
        tqdm(
            total=len(tensors), desc="calibrating on images", unit="image", file=terminal
        ) as progress,
    ):
        quantized = quantize_net_v2(
            network,
            quantized_dtype="auto",
            exclude_layers_match=["yolooutput"],
            exclude_operators=["Concat"],
            calib_data=Calibration(tensors, progress),
            calib_mode=CALIBRATION_METHOD,
            num_calib_examples=len(tensors),
            ctx=mx.cpu(),
            logger=None,
        )
    # a SymbolBlock exports its parameters only once it has run
    quantized.hybridize(static_alloc=True)
    quantized(tensors[0])
    mx.nd.waitall()
    return quantized


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[TextIO]:
    """Standard error's file descriptor sent to /dev/null; yields a stream to the real one."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    terminal = os.fdopen(os.dup(saved), "w")
    try:
        yield terminal
    finally:
        terminal.close()
        os.dup2(saved, 2)
        os.close(saved)


def with_raw_maps(symbol_file: str, params_file: str) -> Network:
    """The network with its three raw output maps as extra outputs, ready to run."""
    symbol = mx.sym.load(symbol_file)
    internals = symbol.get_internals()
    missing = [name for name in RAW_MAPS if name not in internals.list_outputs()]
    if missing:
        raise CommandError(f"the network has no {missing[0]}: not a GluonCV YOLOv3 export")
    grouped = mx.sym.Group([*symbol, *(internals[name] for name in RAW_MAPS)])
    network = gluon.nn.SymbolBlock(grouped, [mx.sym.var("data")])
    network.collect_params().load(
        params_file, ctx=mx.cpu(), cast_dtype=True, dtype_source="saved", ignore_extra=True
    )
    network.hybridize(static_alloc=True)
    return network


def detect(
    network: Network, image: np.ndarray, tensor: Tensor, metadata: ModelMetadata
) -> tuple[list[postprocess.Detection], list[np.ndarray]]:
    """(every detection the network keeps, its raw maps) for one prepared image."""
    outputs = [output.asnumpy() for output in network(tensor)]
    ids, scores, boxes = outputs[:3]
    detections = postprocess.to_detections(
        ids,
        scores,
        boxes,
        input_size=(tensor.shape[3], tensor.shape[2]),
        image_size=(image.shape[1], image.shape[0]),
        labels=metadata.classes,
        params=RequestParams(threshold=0.0, max_detections=metadata.post_nms),
        suppression=metadata.suppression,
    )
    return detections, outputs[3:]


def int8_copy(
    fp32_dir: str, int8_dir: str, calibration: Sequence[str], mode: str
) -> tuple[ModelMetadata, int]:
    """``fp32_dir``'s network quantized into ``int8_dir``, calibrated on the files given as
    the INT8 network will be served: prepared in ``mode``, on the INT8 buckets' canvases; (its
    metadata, how many residual adds were fused into their convolutions)."""
    with open(os.path.join(fp32_dir, model.METADATA_FILE), encoding="utf-8") as file:
        fp32 = ModelMetadata.from_json(file.read())
    metadata = dataclasses.replace(fp32, precision=INT8, buckets=preprocess.LOWER_PRECISION_BUCKETS)
    tensors = [prepared(path, metadata, mode)[1] for path in calibration]
    quantized = quantize(fp32_dir, tensors)
    shutil.copytree(fp32_dir, int8_dir)
    export(quantized, int8_dir)
    fused = residual_sum.fuse_file(os.path.join(int8_dir, model.SYMBOL_FILE))
    return metadata, fused


def measure_agreement(
    fp32_dir: str,
    int8_dir: str,
    validation: Sequence[str],
    metadata: ModelMetadata,
    mode: str,
    threshold: float,
) -> tuple[list[agreement.ImageAgreement], dict[str, Any]]:
    """Per-image agreement and the totals, INT8 (``int8_dir``) against FP32 (``fp32_dir``)."""
    networks = {
        name: with_raw_maps(
            os.path.join(directory, model.SYMBOL_FILE), os.path.join(directory, model.PARAMS_FILE)
        )
        for name, directory in (("fp32", fp32_dir), ("int8", int8_dir))
    }
    images: list[agreement.ImageAgreement] = []
    references: list[list[postprocess.Detection]] = []
    candidates: list[list[postprocess.Detection]] = []
    for path in tqdm(validation, desc="comparing INT8 with FP32", unit="image"):
        image, tensor = prepared(path, metadata, mode)
        reference, reference_maps = detect(networks["fp32"], image, tensor, metadata)
        candidate, candidate_maps = detect(networks["int8"], image, tensor, metadata)
        references.append(reference)
        candidates.append(candidate)
        images.append(
            agreement.compare_image(
                os.path.basename(path),
                reference,
                candidate,
                reference_maps,
                candidate_maps,
                threshold,
            )
        )
    return images, agreement.summary(images, references, candidates, threshold)


def export(quantized: Network, model_dir: str) -> None:
    """Write ``quantized`` in place of the FP32 network in ``model_dir`` (a copy of it)."""
    prefix = os.path.join(model_dir, model.SYMBOL_FILE.replace("-symbol.json", ""))
    quantized.export(prefix, epoch=0)
    # GluonCV's FP32 graph is for the benchmark's seed baselines, which need FP32 weights
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(model_dir, model.GLUONCV_SYMBOL_FILE))


def how(calibration_count: int, mode: str, fused: int) -> dict[str, Any]:
    """What ``model.json`` says of how the INT8 network was made."""
    return {
        "library": f"mxnet {mx.__version__} (oneDNN), quantize_net_v2",
        "quantized_dtype": "auto",
        "calibration": CALIBRATION_METHOD,
        "calibration_images": calibration_count,
        "calibration_mode": mode,
        "residual_adds": f"{fused} fused into the convolution before each, as a oneDNN sum "
        "post-op (scripts/lib/archives/residual_sum.py)",
        "kept_fp32": KEPT_FP32,
    }


def record(
    model_dir: str, metadata: ModelMetadata, agreement_recorded: dict[str, Any]
) -> ModelMetadata:
    """``model.json`` of a lowered network: ``metadata`` (how it was made included) and how
    closely it agrees with FP32."""
    written = dataclasses.replace(metadata, agreement=agreement_recorded)
    with open(os.path.join(model_dir, model.METADATA_FILE), "w", encoding="utf-8") as file:
        file.write(written.to_json())
    return written
