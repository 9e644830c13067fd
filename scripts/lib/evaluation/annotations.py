"""The labelled set: a COCO annotation file and the folder of its photos."""

import contextlib
import dataclasses
import io
import os
from typing import Any

from scripts.lib.errors import CommandError


@dataclasses.dataclass(frozen=True)
class Photo:
    image_id: int
    path: str
    width: int
    height: int


@dataclasses.dataclass(frozen=True)
class LabelledSet:
    ground_truth: Any  # pycocotools.coco.COCO
    photos: tuple[Photo, ...]

    @property
    def category_names(self) -> dict[int, str]:
        return {
            category["id"]: category["name"]
            for category in self.ground_truth.loadCats(self.ground_truth.getCatIds())
        }


def load(annotations_path: str, images_dir: str) -> LabelledSet:
    """The annotation file read by pycocotools, each of its images found in ``images_dir``."""
    from pycocotools.coco import COCO

    if not os.path.isdir(images_dir):
        raise CommandError(f"{images_dir} is not a folder of photos")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # its progress lines are not ours
            ground_truth = COCO(annotations_path)
    except FileNotFoundError:
        raise CommandError(f"cannot read {annotations_path}: no such file") from None
    except (ValueError, KeyError, TypeError, AssertionError) as error:
        raise CommandError(
            f"{annotations_path} is not a COCO annotation file ({type(error).__name__}: {error})"
        ) from None
    photos, missing = [], []
    for image in ground_truth.loadImgs(ground_truth.getImgIds()):
        path = os.path.join(images_dir, image["file_name"])
        if os.path.isfile(path):
            photos.append(Photo(image["id"], path, image["width"], image["height"]))
        else:
            missing.append(image["file_name"])
    if missing:
        raise CommandError(
            f"{len(missing)} photo(s) of {annotations_path} are not in {images_dir}, e.g. "
            + ", ".join(missing[:3])
        )
    if not photos:
        raise CommandError(f"{annotations_path} lists no images")
    if not ground_truth.getCatIds():
        raise CommandError(f"{annotations_path} lists no categories")
    return LabelledSet(ground_truth, tuple(photos))
