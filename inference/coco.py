"""COCO results: detections as the list evaluation tools read, with COCO's own category ids.

Each detection is ``{"image_id", "category_id", "bbox": [x, y, width, height], "score"}``, the
box in the image's pixels. The COCO model's classes map to COCO's sparse ids (1 to 90, ten of
them unused since the 2014 paper's 91 categories became 80); any other model's classes are
numbered from 1 in the order of its class list, as a COCO annotation file of them would be.
"""

# the 80 COCO detection classes, in the model's (and GluonCV's) order
COCO_NAMES = (
    "person,bicycle,car,motorcycle,airplane,bus,train,truck,boat,traffic light,fire hydrant,"
    "stop sign,parking meter,bench,bird,cat,dog,horse,sheep,cow,elephant,bear,zebra,giraffe,"
    "backpack,umbrella,handbag,tie,suitcase,frisbee,skis,snowboard,sports ball,kite,"
    "baseball bat,baseball glove,skateboard,surfboard,tennis racket,bottle,wine glass,cup,fork,"
    "knife,spoon,bowl,banana,apple,sandwich,orange,broccoli,carrot,hot dog,pizza,donut,cake,"
    "chair,couch,potted plant,bed,dining table,toilet,tv,laptop,mouse,remote,keyboard,"
    "cell phone,microwave,oven,toaster,sink,refrigerator,book,clock,vase,scissors,teddy bear,"
    "hair drier,toothbrush"
)
COCO_CLASSES = tuple(COCO_NAMES.split(","))
# the ids of the 2014 paper's categories that the detection task does not have
UNUSED_IDS = frozenset((12, 26, 29, 30, 45, 66, 68, 69, 71, 83))
COCO_IDS = tuple(number for number in range(1, 91) if number not in UNUSED_IDS)


def category_ids(labels: tuple[str, ...]) -> tuple[int, ...]:
    """Each class's COCO category id: COCO's for the COCO classes, 1, 2, ... for any others."""
    if tuple(labels) == COCO_CLASSES:
        return COCO_IDS
    return tuple(range(1, len(labels) + 1))


def categories(labels: tuple[str, ...]) -> list[dict]:
    """The ``categories`` of a COCO annotation file for these classes."""
    return [
        {"id": number, "name": name}
        for name, number in zip(labels, category_ids(labels), strict=True)
    ]


def results(detections: list, image_id: int, labels: tuple[str, ...]) -> list[dict]:
    """COCO results for one image's detections (boxes in its pixels)."""
    ids = category_ids(labels)
    return [
        {
            "image_id": image_id,
            "category_id": ids[detection.class_id],
            "bbox": [
                round(detection.box[0], 2),
                round(detection.box[1], 2),
                round(detection.box[2] - detection.box[0], 2),
                round(detection.box[3] - detection.box[1], 2),
            ],
            "score": round(detection.score, 6),
        }
        for detection in detections
    ]
