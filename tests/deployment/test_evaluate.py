"""`sm-detect evaluate` on a labelled set made here, whose mAP is known by construction: the FP32
archive's own answers taken as the labels give that archive mAP 1.0, through a running server
(--url); the INT8 archive of the same weights, served by the command itself (--model), gets its
honest figure beside it."""

import json
import subprocess

import pytest
import requests

from inference import coco
from inference.headers import CUSTOM_ATTRIBUTES
from tests.helpers import LONG_COMMAND_SECONDS, SM_DETECT, encode_image

LABELS_PER_PHOTO = 5  # on average


def score_cut(answers):
    """A score that splits every photo's detections the same way: the labels score above it,
    and so rank above every other detection of any photo, as a perfect detector's would."""
    scores = sorted((d["score"] for answer in answers for d in answer["detections"]), reverse=True)
    return scores[LABELS_PER_PHOTO * len(answers)]


@pytest.fixture(scope="module")
def labelled_set(tmp_path_factory, server, photos):
    """Photos and a COCO annotation file holding the FP32 server's best detections of each."""
    folder = tmp_path_factory.mktemp("labelled")
    images, annotations, answers = [], [], []
    for image_id, (name, photo) in enumerate(sorted(photos.items()), start=1):
        body = encode_image(photo, "JPEG", quality=92)
        (folder / f"{name}.jpg").write_bytes(body)
        answers.append(
            requests.post(
                f"{server.url}/invocations",
                data=body,
                headers={
                    "Content-Type": "image/jpeg",
                    CUSTOM_ATTRIBUTES: "threshold=0,max_detections=100",
                },
                timeout=120,
            ).json()
        )
        height, width = photo.shape[:2]
        images.append(
            {"id": image_id, "file_name": f"{name}.jpg", "width": width, "height": height}
        )
    cut = score_cut(answers)
    for image_id, answer in enumerate(answers, start=1):
        for detection in (d for d in answer["detections"] if d["score"] > cut):
            box = detection["box"]
            size = (box["xmax"] - box["xmin"], box["ymax"] - box["ymin"])
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": coco.category_ids(coco.COCO_CLASSES)[detection["class_id"]],
                    "bbox": [box["xmin"], box["ymin"], *size],
                    "area": size[0] * size[1],
                    "iscrowd": 0,
                }
            )
    document = {
        "images": images,
        "annotations": annotations,
        "categories": coco.categories(coco.COCO_CLASSES),
    }
    (folder / "coco.json").write_text(json.dumps(document))
    return folder, annotations


def evaluate(folder, target, output):
    return subprocess.run(
        [
            *(SM_DETECT, "evaluate", "--annotations", str(folder / "coco.json")),
            *("--images", str(folder), *target, "--output", str(output)),
            *("--json", str(output / "figures.json")),
        ],
        capture_output=True,
        text=True,
        timeout=LONG_COMMAND_SECONDS,
        check=False,
    )


def test_the_archive_that_made_the_labels_scores_map_one_and_int8_its_own(
    labelled_set, server, int8_model_archive, tmp_path
):
    folder, labels = labelled_set
    fp32 = evaluate(folder, ("--url", server.url), tmp_path / "fp32")
    assert fp32.returncode == 0, fp32.stderr
    figures = json.loads((tmp_path / "fp32" / "figures.json").read_text())
    assert figures["map"] == pytest.approx(1.0, abs=1e-6)
    assert figures["map50"] == pytest.approx(1.0, abs=1e-6)
    classes = {coco.COCO_CLASSES[coco.COCO_IDS.index(row["category_id"])] for row in labels}
    assert set(figures["per_class"]) == classes
    assert "mAP@[.5:.95] 1.000, mAP@.5 1.000" in fp32.stdout
    results = json.loads((tmp_path / "fp32" / "results.json").read_text())
    assert {row["image_id"] for row in results} == {1, 2, 3, 4}
    assert all(sum(row["image_id"] == n for row in results) <= 100 for n in range(1, 5))
    assert (tmp_path / "fp32" / "precision-recall.png").read_bytes()[:4] == b"\x89PNG"

    int8 = evaluate(folder, ("--model", str(int8_model_archive)), tmp_path / "int8")
    assert int8.returncode == 0, int8.stderr
    int8_figures = json.loads((tmp_path / "int8" / "figures.json").read_text())
    assert 0.0 <= int8_figures["map"] <= int8_figures["map50"] <= 1.0
    assert f"mAP@[.5:.95] {int8_figures['map']:.3f}" in int8.stdout
    print(f"FP32 labels: FP32 mAP {figures['map']:.3f}; INT8 mAP {int8_figures['map']:.3f}")


def test_a_photo_missing_from_the_folder_is_named(labelled_set, server, tmp_path):
    folder, _ = labelled_set
    document = json.loads((folder / "coco.json").read_text())
    document["images"][0]["file_name"] = "elsewhere.jpg"
    (tmp_path / "coco.json").write_text(json.dumps(document))
    ran = subprocess.run(
        [
            *(SM_DETECT, "evaluate", "--annotations", str(tmp_path / "coco.json")),
            *("--images", str(folder), "--url", server.url, "--output", str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 1 and "elsewhere.jpg" in ran.stderr
