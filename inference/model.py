"""Model: load the exported network from a SageMaker model directory, on the right device.

The directory holds ``model-symbol.json`` + ``model-0000.params`` (the hybridized network, NMS
included, as ``sm-detect package`` exports it) and ``model.json`` (its metadata).
"""

import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import mxnet as mx
from mxnet import gluon

from inference import cpu, preprocess
from inference.metadata import BF16, INT8, MAX_METADATA_BYTES, ModelMetadata
from inference.model_files import (
    GLUONCV_SYMBOL_FILE,
    METADATA_FILE,
    PARAMS_FILE,
    REQUIRED_FILES,
    SYMBOL_FILE,
)

__all__ = ["GLUONCV_SYMBOL_FILE", "METADATA_FILE", "PARAMS_FILE", "SYMBOL_FILE"]  # and below

logger = logging.getLogger(__name__)
# BF16's forward against FP32's without AMX, 555x416, 2 threads (Intel Xeon, AVX-512 BF16, AMX
# pinned off: 518 against 378 ms; an earlier Xeon, 0.87 against 0.41 s)
BF16_WITHOUT_AMX = "1.4 to 2.1 times slower"


class Detector(gluon.Block):
    """The exported network with its metadata and the context it runs on.

    An INT8 network also has one compiled graph per input shape it was warmed for
    (``shaped``, sharing the network's parameters): its quantized operators keep state built for
    one input shape, and one graph taking turns between shapes rebuilt that state at every
    change of shape (0.2 s each on 2 cores). Other shapes run on ``network``.

    A ``gluon.Block`` because AWS's MXNet serving container accepts nothing else from
    ``model_fn``.
    """

    def __init__(
        self, network: Any, metadata: ModelMetadata, ctx: Any, shaped: dict | None = None
    ) -> None:
        super().__init__()
        self.network = network
        self.metadata = metadata
        self.ctx = ctx
        self.shaped = dict(shaped or {})  # (height, width) -> a graph for that shape

    def forward(self, x: Any) -> Any:
        return self.shaped.get(tuple(x.shape[2:]), self.network)(x)


def choose_context(gpu_id: int | str | None = None) -> mx.Context:
    """``mx.gpu(gpu_id)`` when a GPU is visible (the model server's id for this worker)."""
    if mx.context.num_gpus() > 0:
        return mx.gpu(int(gpu_id or 0))
    return mx.cpu()


def model_files(model_dir: str) -> dict[str, str]:
    """Paths of the three files a model directory must hold; names the missing ones."""
    paths = {name: os.path.join(model_dir, name) for name in REQUIRED_FILES}
    missing = [name for name, path in paths.items() if not os.path.isfile(path)]
    if missing:
        raise FileNotFoundError(
            f"model directory {model_dir} lacks {', '.join(missing)}; "
            "package it with `sm-detect package`"
        )
    return paths


def check_model(model_dir: str) -> ModelMetadata:
    """Read every file of the model without building the network; raises on the first fault.

    Returns the model's metadata."""
    paths = model_files(model_dir)
    metadata = read_metadata(paths[METADATA_FILE])
    check_precision(metadata, choose_context())
    try:
        symbol = mx.sym.load(paths[SYMBOL_FILE])
        params = mx.nd.load(paths[PARAMS_FILE])
    except mx.base.MXNetError as error:
        first_line = next(
            (line for line in str(error).splitlines() if "Check failed" in line),
            str(error).splitlines()[0] if str(error) else "unreadable",
        )
        raise ValueError(f"the network files cannot be read: {first_line.strip()}") from None
    stored = {name.split(":", 1)[-1] for name in params}
    needed = set(symbol.list_arguments() + symbol.list_auxiliary_states()) - {"data"}
    if needed - stored:
        raise ValueError(
            f"{PARAMS_FILE} lacks {len(needed - stored)} of the network's "
            f"{len(needed)} parameters, e.g. {sorted(needed - stored)[0]}"
        )
    return metadata


def read_metadata(path: str) -> ModelMetadata:
    """``model.json`` read and checked; a ``ValueError`` says what is wrong with it."""
    try:
        with open(path, "rb") as file:
            text = file.read(MAX_METADATA_BYTES + 1)
        return ModelMetadata.from_json(text)
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{METADATA_FILE} is not valid model metadata: {error}") from None


def check_precision(metadata: ModelMetadata, ctx: mx.Context, isa: str | None = None) -> None:
    """INT8 and BF16 networks run on a CPU only (MXNet's INT8 and BF16 kernels are oneDNN's),
    BF16 on one with AVX-512 at least (``isa``: oneDNN's, this CPU's best when not given)."""
    if metadata.precision in (INT8, BF16) and ctx.device_type == "gpu":
        raise ValueError(
            f"this model is {metadata.precision.upper()}, and MXNet runs it on CPUs only (oneDNN):"
            " serve it on a CPU instance, or package it with --precision fp32 for a GPU"
        )
    isa = cpu.best_isa(cpu.cpu_flags()) if isa is None else isa
    if metadata.precision == BF16 and isa and not isa.startswith("avx512"):
        raise ValueError(
            f"this model is BF16, which oneDNN runs on AVX-512 CPUs only, and this one has "
            f"{cpu.kind(isa)}: serve the FP32 or INT8 archive here"
        )


def say_what_bf16_costs_here(metadata: ModelMetadata, isa: str) -> None:
    """BF16 pays only on AMX's tiles: said at load where it runs on anything less."""
    if metadata.precision == BF16 and isa != cpu.AMX:
        logger.warning(
            "this CPU has %s, no AMX: BF16 runs on %s here, measured %s than FP32 on such a CPU "
            "(docs/PERFORMANCE.md): the FP32 or INT8 archive serves faster",
            cpu.kind(isa),
            "AVX-512 BF16 instructions" if isa == "avx512_core_bf16" else "emulation",
            BF16_WITHOUT_AMX,
        )


def load_detector(
    model_dir: str, ctx: mx.Context | None = None, mode: str = preprocess.ASPECT
) -> Detector:
    """Load and hybridize the network in ``model_dir``, then run it once on every input shape
    ``mode`` (the endpoint's default) gives it, so that no request pays for a first shape."""
    isa = cpu.prepare()  # before oneDNN first runs in this process
    ctx = ctx or choose_context()
    paths = model_files(model_dir)
    metadata = read_metadata(paths[METADATA_FILE])
    check_precision(metadata, ctx, isa)
    say_what_bf16_costs_here(metadata, isa)
    network = gluon.nn.SymbolBlock.imports(
        paths[SYMBOL_FILE], ["data"], paths[PARAMS_FILE], ctx=ctx
    )
    hybridize(network, metadata.precision)
    shapes = preprocess.canvas_shapes(mode, metadata.short, metadata.max_size, metadata.buckets)
    shaped = {}
    if metadata.precision == INT8:
        symbol = mx.sym.load(paths[SYMBOL_FILE])
        for shape in shapes:
            graph = gluon.nn.SymbolBlock(
                symbol, mx.sym.var("data"), params=network.collect_params()
            )
            hybridize(graph, metadata.precision)
            shaped[shape] = graph
    detector = Detector(network, metadata, ctx, shaped)
    started = time.perf_counter()
    warm_up(detector, shapes or ((metadata.short, metadata.short),))
    logger.info(
        "loaded %s (%d classes, %s) on %s, oneDNN ISA %s; %d input shape(s) of mode %s warmed "
        "in %.1f s",
        metadata.name,
        len(metadata.classes),
        metadata.precision,
        ctx,
        isa,
        len(shapes),
        mode,
        time.perf_counter() - started,
    )
    return detector


def hybridize(network: gluon.HybridBlock, precision: str) -> None:
    """Compile ``network`` once; an INT8 network also keeps its operators' state between calls.

    MXNet's quantized convolutions quantize their FP32 weights and build their oneDNN kernels
    in their operator state. Without ``static_shape``, MXNet's cached graph makes that state anew
    at every call (``CachedOp::StaticRunOps``), so every forward pass quantized all the weights
    again: 0.35 s instead of 0.18 s at 555x416 on 2 cores. With it, a new input shape rebuilds
    the state once. The FP32 graph keeps no such state and runs as fast either way.
    """
    network.hybridize(static_alloc=True, static_shape=precision == INT8)


def warm_up(
    detector: Detector, shapes: Sequence[tuple[int, int]], report_every_seconds: float = 10.0
) -> None:
    """One forward pass per input shape, so no request pays for binding a graph to it.

    A slow warm-up (a busy machine) says how far it got every ``report_every_seconds``."""
    started = reported = time.perf_counter()
    for done, (height, width) in enumerate(shapes, start=1):
        detector(mx.nd.zeros((1, 3, height, width), ctx=detector.ctx))
        mx.nd.waitall()
        now = time.perf_counter()
        if now - reported >= report_every_seconds and done < len(shapes):
            logger.info(
                "warming up: %d of %d input shapes after %.1f s (the last %dx%d)",
                done,
                len(shapes),
                now - started,
                width,
                height,
            )
            reported = now
