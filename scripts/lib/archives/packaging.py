"""Package: weights -> exported network + metadata + code -> model.tar.gz (FP32 or INT8)."""

import math
import os
import tempfile

from inference.metadata import FP32, INT8, PRECISIONS
from scripts.lib.archives import archive, export
from scripts.lib.errors import CommandError
from scripts.lib.progress import say, step


def package(
    weights,
    output,
    classes_file=None,
    precision=FP32,
    quantization=None,
):
    """Write the archive; ``quantization`` (a ``Quantization``) when ``precision`` is int8."""
    if precision not in PRECISIONS or (precision == INT8) != (quantization is not None):
        raise ValueError(f"precision {precision!r} with quantization {quantization!r}")
    if quantization is not None:
        quantization.check()  # before minutes of work: the images are there and readable
    classes = export.read_classes(classes_file) if classes_file else None
    with step(f"building {export.COCO_MODEL} with {weights} weights"):
        net = export.build_network(weights, classes)
    with tempfile.TemporaryDirectory(prefix="sm-detect-package-") as work_dir:
        model_dir = os.path.join(work_dir, "fp32")
        with step("exporting the hybridized network"):
            metadata = export.export(net, model_dir, weights)
        if quantization is not None:
            model_dir, metadata = quantization.apply(model_dir, metadata, work_dir)
        with step(f"writing {output}"):
            archive.write_archive(model_dir, output)
    say(
        f"{output}: {metadata.name}, {len(metadata.classes)} classes, {metadata.precision}, "
        f"{os.path.getsize(output) / 1e6:.1f} MB"
    )
    return metadata


class Quantization:
    """How to make the INT8 network: calibration and validation images, and what must hold."""

    def __init__(
        self, calibration, count=None, validate=None, min_agreement=None, threshold=0.5, mode=None
    ):
        from inference import preprocess

        self.calibration, self.count, self.validate = calibration, count, validate
        self.min_agreement, self.threshold = min_agreement, threshold
        self.mode = mode or preprocess.ASPECT
        self.files = None

    def check(self):
        from scripts.lib.archives import quantize

        self.files = quantize.split(self.calibration, self.count, self.validate)

    def apply(self, fp32_dir, metadata, work_dir):
        """The INT8 model directory beside ``fp32_dir``, and its metadata."""
        from scripts.lib.archives import agreement, quantize

        calibration, validation = self.files
        say(
            f"==> quantizing to INT8: {len(calibration)} calibration image(s), "
            f"{len(validation)} validation image(s), mode {self.mode}"
        )
        int8_dir = os.path.join(work_dir, "int8")
        metadata = quantize.int8_copy(fp32_dir, int8_dir, calibration, self.mode)
        images, totals = quantize.measure_agreement(
            fp32_dir, int8_dir, validation, metadata, self.mode, self.threshold
        )
        say(
            f"agreement with FP32 (its detections scoring {self.threshold} or more as the "
            "reference):"
        )
        say(agreement.table(images, totals))
        if self.min_agreement is not None and math.isnan(totals["map50"]):
            raise CommandError(
                f"no FP32 detection scores {self.threshold} or more on the validation images, so "
                "there is no agreement to check, and nothing was written",
                remedy="agreement_threshold",
            )
        if self.min_agreement is not None and totals["map50"] < self.min_agreement:
            raise CommandError(
                f"INT8 agrees with FP32 at mAP@0.5 {totals['map50']:.3f}, below the minimum of "
                f"{self.min_agreement}: nothing written",
                remedy="min_agreement",
            )
        written = quantize.record(
            int8_dir, metadata, len(calibration), self.mode, images, totals, self.threshold
        )
        return int8_dir, written
