"""Package: weights -> exported network + metadata + code -> model.tar.gz (FP32, INT8 or BF16).

The export is FP32; an INT8 or BF16 archive is made from it (``Quantization``, ``Bfloat16``), its
agreement with the FP32 network measured on held-back images and recorded in ``model.json``.
"""

import dataclasses
import math
import os
import tempfile
from typing import Any

from inference.metadata import BF16, FP32, INT8, PRECISIONS, ModelMetadata
from scripts.lib.archives import archive, export
from scripts.lib.errors import CommandError
from scripts.lib.progress import say, step


@dataclasses.dataclass(frozen=True)
class PackageSpec:
    """An archive as `package` and `up` describe it: the weights, their classes, the precision,
    and for INT8 and BF16 the images and bounds of the agreement with FP32."""

    weights: str
    classes_file: str | None = None
    precision: str = FP32
    calibration: str | None = None  # INT8's calibration images; the sample photos without
    calibration_count: int | None = None
    validate: str | None = None  # where agreement is measured; held-back calibration without
    min_agreement: float | None = None
    agreement_threshold: float = 0.5
    mode: str | None = None  # the request mode images are prepared in

    def check(self) -> None:
        if self.calibration and self.precision != INT8:
            raise CommandError("--calibration goes with --precision int8")
        if self.classes_file and self.weights == "pretrained":
            raise CommandError("--classes goes with a weights file, not with pretrained weights")


def package_as(spec: PackageSpec, output: str) -> ModelMetadata:
    """Write the archive ``spec`` describes; its metadata."""
    spec.check()
    if spec.precision == FP32:
        return package(spec.weights, output, spec.classes_file)
    agreement: dict[str, Any] = {
        "min_agreement": spec.min_agreement,
        "threshold": spec.agreement_threshold,
        "mode": spec.mode,
    }
    with tempfile.TemporaryDirectory(prefix="sm-detect-samples-") as samples_dir:
        lowering: Lowering
        if spec.precision == BF16:
            photos = spec.validate or sample_photos(samples_dir, "measuring")
            lowering = Bfloat16(photos, **agreement)
        else:
            lowering = Quantization(
                spec.calibration or sample_photos(samples_dir, "calibrating"),
                count=spec.calibration_count,
                validate=spec.validate,
                **agreement,
            )
        return package(spec.weights, output, spec.classes_file, spec.precision, lowering)


def sample_photos(folder: str, purpose: str) -> str:
    """The packaging set's sample photographs, written into ``folder`` for ``purpose``
    (calibrating INT8, or measuring BF16's agreement)."""
    from scripts.lib.archives.samples import write_sample_photos

    count = write_sample_photos(folder)
    option = "--calibration" if purpose == "calibrating" else "--validate"
    say(
        f"{purpose} on the {count} sample photographs of the packaging set ({option} DIR for "
        "your own; `sm-detect captures` makes one from an endpoint's traffic)"
    )
    return folder


def package(
    weights: str,
    output: str,
    classes_file: str | None = None,
    precision: str = FP32,
    lowering: "Lowering | None" = None,
) -> ModelMetadata:
    """Write the archive; ``lowering`` (a ``Quantization`` or ``Bfloat16``) makes the INT8 or
    BF16 network from the FP32 one."""
    if precision not in PRECISIONS or (lowering.precision if lowering else FP32) != precision:
        raise ValueError(f"precision {precision!r} made by {lowering!r}")
    if lowering is not None:
        lowering.check()  # before minutes of work: the images are there and readable
    classes = export.read_classes(classes_file) if classes_file else None
    what = f"{export.COCO_MODEL if not classes else export.CUSTOM_MODEL}"
    with step(
        f"building {what} ({len(classes) if classes else 80} classes) with {weights} weights"
    ):
        net = export.build_network(weights, classes)
    with tempfile.TemporaryDirectory(prefix="sm-detect-package-") as work_dir:
        model_dir = os.path.join(work_dir, "fp32")
        with step("exporting the hybridized network"):
            metadata = export.export(net, model_dir, weights)
        if lowering is not None:
            model_dir, metadata = lowering.apply(model_dir, metadata, work_dir)
        with step(f"writing {output}"):
            archive.write_archive(model_dir, output)
    say(
        f"{output}: {metadata.name}, {len(metadata.classes)} classes, {metadata.precision}, "
        f"{os.path.getsize(output) / 1e6:.1f} MB"
    )
    return metadata


class Lowering:
    """What INT8 and BF16 share: the images their agreement with FP32 is measured on, prepared
    in ``mode`` as the server prepares requests, and the least agreement that may be written."""

    precision = ""

    def __init__(
        self,
        validate: str | None = None,
        min_agreement: float | None = None,
        threshold: float = 0.5,
        mode: str | None = None,
    ) -> None:
        from inference import preprocess

        self.validate, self.min_agreement, self.threshold = validate, min_agreement, threshold
        self.mode = mode or preprocess.ASPECT
        self.validation: list[str] | None = None

    def check(self) -> None:
        """Find the images before any work: ``CommandError`` when there are none."""
        from scripts.lib.archives import quantize

        assert self.validate is not None, "a BF16 lowering is given its validation images"
        self.validation = quantize.image_files(self.validate)
        if not self.validation:
            raise CommandError(f"{self.validate} holds no image this server reads")

    def lower(
        self, fp32_dir: str, lowered_dir: str, metadata: ModelMetadata
    ) -> tuple[ModelMetadata, dict[str, Any]]:
        """Write the lowered network into ``lowered_dir``; (its metadata, how it was made)."""
        raise NotImplementedError

    def apply(
        self, fp32_dir: str, metadata: ModelMetadata, work_dir: str
    ) -> tuple[str, ModelMetadata]:
        """The lowered model directory beside ``fp32_dir``, its agreement measured and recorded;
        (the directory, its metadata)."""
        from inference import cpu
        from scripts.lib.archives import agreement, quantize

        assert self.validation is not None, "check() first"
        cpu.prepare()  # the kernels the server will run: AMX where the CPU has it
        name = self.precision.upper()
        lowered_dir = os.path.join(work_dir, self.precision)
        metadata, how = self.lower(fp32_dir, lowered_dir, metadata)
        images, totals = quantize.measure_agreement(
            fp32_dir, lowered_dir, self.validation, metadata, self.mode, self.threshold
        )
        say(
            f"agreement with FP32 (its detections scoring {self.threshold} or more as the "
            "reference):"
        )
        say(agreement.table(images, totals, candidate=name))
        if self.min_agreement is not None and math.isnan(totals["map50"]):
            raise CommandError(
                f"no FP32 detection scores {self.threshold} or more on the validation images, so "
                "there is no agreement to check, and nothing was written",
                remedy="agreement_threshold",
            )
        if self.min_agreement is not None and totals["map50"] < self.min_agreement:
            raise CommandError(
                f"{name} agrees with FP32 at mAP@0.5 {totals['map50']:.3f}, below the minimum of "
                f"{self.min_agreement}: nothing written",
                remedy="min_agreement",
            )
        written = quantize.record(
            lowered_dir,
            dataclasses.replace(metadata, **how),
            agreement.recorded(images, totals, self.threshold),
        )
        return lowered_dir, written


class Quantization(Lowering):
    """How to make the INT8 network: calibration and validation images, and what must hold."""

    precision = INT8

    def __init__(
        self,
        calibration: str,
        count: int | None = None,
        validate: str | None = None,
        **agreement: Any,
    ) -> None:
        super().__init__(validate, **agreement)
        self.calibration, self.count = calibration, count
        self.files: tuple[list[str], list[str]] | None = None

    def check(self) -> None:
        from scripts.lib.archives import quantize

        self.files = quantize.split(self.calibration, self.count, self.validate)
        self.validation = self.files[1]

    def lower(
        self, fp32_dir: str, lowered_dir: str, metadata: ModelMetadata
    ) -> tuple[ModelMetadata, dict[str, Any]]:
        from scripts.lib.archives import quantize

        assert self.files is not None, "check() first"
        calibration, validation = self.files
        say(
            f"==> quantizing to INT8: {len(calibration)} calibration image(s), "
            f"{len(validation)} validation image(s), mode {self.mode}"
        )
        metadata, fused = quantize.int8_copy(fp32_dir, lowered_dir, calibration, self.mode)
        return metadata, {"quantization": quantize.how(len(calibration), self.mode, fused)}


class Bfloat16(Lowering):
    """How to make the BF16 network: no calibration, only images to measure its agreement on."""

    precision = BF16

    def lower(
        self, fp32_dir: str, lowered_dir: str, metadata: ModelMetadata
    ) -> tuple[ModelMetadata, dict[str, Any]]:
        from scripts.lib.archives import bf16

        assert self.validation is not None, "check() first"
        say(f"==> converting to BF16: {len(self.validation)} validation image(s), mode {self.mode}")
        return bf16.bf16_copy(fp32_dir, lowered_dir, metadata), {"conversion": bf16.how()}
