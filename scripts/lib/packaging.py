"""Package: weights -> exported network + metadata + code -> model.tar.gz."""

import os
import tempfile

from scripts.lib import archive, export
from scripts.lib.progress import say, step


def package(weights, output, classes_file=None):
    classes = export.read_classes(classes_file) if classes_file else None
    with step(f"building {export.COCO_MODEL} with {weights} weights"):
        net = export.build_network(weights, classes)
    with tempfile.TemporaryDirectory(prefix="sm-detect-package-") as model_dir:
        with step("exporting the hybridized network"):
            metadata = export.export(net, model_dir, weights)
        with step(f"writing {output}"):
            archive.write_archive(model_dir, output)
    say(
        f"{output}: {metadata.name}, {len(metadata.classes)} classes, "
        f"{os.path.getsize(output) / 1e6:.1f} MB"
    )
    return metadata
