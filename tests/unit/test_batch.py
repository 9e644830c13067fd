"""A batch's entries read one by one, in order, each refused on its own; S3 refused before any
call when its bucket is not listed; normalized boxes and COCO results from the same detections."""

import base64
import io
import json

import numpy as np
import pytest

from inference import coco, decode, encode, params, sources
from inference.errors import (
    InvalidInput,
    InvalidParameter,
    PayloadTooLarge,
    RequestError,
    S3BucketNotAllowed,
)
from inference.postprocess import Detection
from inference.settings import ConfigurationError, RequestSettings
from tests.helpers import encode_image


def inline(array):
    return {"image": base64.b64encode(encode_image(array, "PNG")).decode()}


def test_a_batch_keeps_the_request_order_and_each_entry_its_own_error(random_array):
    small = random_array[:10, :20]
    entries = decode.decode_batch(
        {
            "images": [
                inline(random_array),
                {"image": base64.b64encode(b"not an image").decode()},
                {**inline(small), "image_id": 42},
                {"s3_uri": "s3://not-listed/photo.jpg"},
                {"image": "%%%"},
                {"url": "http://169.254.169.254/latest/meta-data/"},
            ]
        }
    )
    assert [type(entry).__name__ for entry in entries] == [
        "Entry",
        "InvalidInput",
        "Entry",
        "S3BucketNotAllowed",
        "InvalidInput",
        "InvalidInput",
    ]
    np.testing.assert_array_equal(entries[0].image, random_array)
    np.testing.assert_array_equal(entries[2].image, small)
    assert (entries[0].image_id, entries[2].image_id) == (None, 42)


def test_the_images_of_a_batch_share_one_pixel_budget(random_array):
    pixels = random_array.shape[0] * random_array.shape[1]
    entries = decode.decode_batch(
        {"images": [inline(random_array)] * 3}, max_pixels=2 * pixels + pixels // 2
    )
    assert not isinstance(entries[1], RequestError)
    assert isinstance(entries[2], PayloadTooLarge)
    assert "in all" in entries[2].message


@pytest.mark.parametrize(
    "document, message",
    [
        ({"images": []}, "one or more"),
        ({"images": "x"}, "one or more"),
        ({"images": [{"image": "x"}] * 17}, r"more than this endpoint takes \(16"),
        ({"images": [{"image": "x"}], "threshold": 0}, "unknown key"),
    ],
)
def test_a_malformed_batch_is_refused_whole(document, message):
    with pytest.raises(InvalidInput, match=message):
        decode.decode_batch(document)


def test_a_single_json_request_takes_an_image_or_an_s3_uri_and_not_a_batch(random_array):
    body = json.dumps(inline(random_array)).encode()
    np.testing.assert_array_equal(decode.decode(body, "application/json"), random_array)
    with pytest.raises(S3BucketNotAllowed, match="S3 input is off"):
        decode.decode(b'{"s3_uri": "s3://photos/a.jpg"}', "application/json")
    with pytest.raises(InvalidInput, match="a batch"):
        decode.decode(json.dumps({"images": [inline(random_array)]}).encode(), "application/json")


@pytest.mark.parametrize(
    "uri",
    [
        "https://photos.s3.amazonaws.com/a.jpg",
        "file:///etc/passwd",
        "s3://photos",
        "s3://photos/",
        "s3://Photos/a.jpg",
        "s3://" + "a" * 64 + "/k",
        "s3://photos/" + "k" * 1025,
    ],
)
def test_only_s3_uris_of_a_bucket_and_key_are_taken(uri):
    with pytest.raises(InvalidInput):
        sources.s3_object(uri, sources.S3Access(buckets=frozenset({"photos"})))


def test_an_unlisted_bucket_is_refused_naming_the_listed_ones():
    access = sources.S3Access(buckets=frozenset({"photos", "uploads"}))
    with pytest.raises(S3BucketNotAllowed, match="photos, uploads") as refused:
        sources.s3_object("s3://secrets/key.jpg", access)
    assert refused.value.status == 403


def test_s3_settings_are_read_and_checked():
    read = RequestSettings.from_environ(
        {"SM_DETECT_S3_BUCKETS": "photos, uploads.example", "SM_DETECT_S3_MAX_MB": "2"}
    )
    assert read.s3 == sources.S3Access(frozenset({"photos", "uploads.example"}), 2 << 20)
    assert RequestSettings.from_environ({}).s3.buckets == frozenset()
    assert RequestSettings.from_environ({}).max_images == 16
    for environ in (
        {"SM_DETECT_S3_BUCKETS": "Photos"},
        {"SM_DETECT_S3_BUCKETS": "a"},
        {"SM_DETECT_S3_MAX_MB": "0"},
        {"SM_DETECT_MAX_IMAGES": "65"},
    ):
        with pytest.raises(ConfigurationError):
            RequestSettings.from_environ(environ)


def test_coordinates_and_image_id_attributes():
    parsed = params.RequestParams().with_attributes("coordinates=normalized,image_id=9")
    assert (parsed.coordinates, parsed.image_id) == ("normalized", 9)
    for header in ("coordinates=percent", "image_id=-1", "image_id=x", f"image_id={2**63}"):
        with pytest.raises(InvalidParameter):
            params.RequestParams().with_attributes(header)
    # an image's id is a request's own, never an endpoint default
    assert RequestSettings.from_environ({"SM_DETECT_IMAGE_ID": "3"}).defaults.image_id is None
    normalized = RequestSettings.from_environ({"SM_DETECT_COORDINATES": "normalized"})
    assert normalized.defaults.coordinates == "normalized"


DETECTIONS = [
    Detection(16, "dog", 0.98, (10.0, 20.0, 60.0, 70.0)),
    Detection(0, "person", 0.5, (0.0, 0.0, 99.0, 80.0)),
]
IMAGE = np.zeros((80, 100, 3), dtype=np.uint8)


def test_normalized_boxes_times_the_image_size_are_the_pixel_boxes():
    pixels = json.loads(encode.encode(DETECTIONS, "application/json", "m", IMAGE))
    normalized = json.loads(
        encode.encode(DETECTIONS, "application/json", "m", IMAGE, coordinates="normalized")
    )
    for in_pixels, as_fractions in zip(pixels["detections"], normalized["detections"], strict=True):
        box, fractions = in_pixels["box"], as_fractions["box"]
        for key, side in (("xmin", 100), ("ymin", 80), ("xmax", 100), ("ymax", 80)):
            assert fractions[key] * side == pytest.approx(box[key], abs=1e-3)
            assert 0 <= fractions[key] <= 1
    lines = encode.encode(DETECTIONS, "application/jsonlines", "m", IMAGE, coordinates="normalized")
    assert json.loads(lines) == normalized
    rows = np.load(
        io.BytesIO(
            encode.encode(DETECTIONS, "application/x-npy", "m", IMAGE, coordinates="normalized")
        )
    )
    assert rows[0, 2:].tolist() == pytest.approx([0.1, 0.25, 0.6, 0.875])


def test_coco_results_use_cocos_own_category_ids_and_xywh_boxes():
    rows = json.loads(
        encode.encode(
            DETECTIONS, "application/x-coco+json", "m", IMAGE, image_id=5, labels=coco.COCO_CLASSES
        )
    )
    # COCO's dog is category 18 and its person 1 (instances_val2017.json)
    assert rows[0] == {
        "image_id": 5,
        "category_id": 18,
        "bbox": [10.0, 20.0, 50.0, 50.0],
        "score": 0.98,
    }
    assert rows[1]["category_id"] == 1


def test_coco_ids_are_cocos_for_the_coco_classes_and_1_based_for_others():
    from gluoncv.data import COCODetection

    assert tuple(COCODetection.CLASSES) == coco.COCO_CLASSES
    ids = dict(zip(coco.COCO_CLASSES, coco.category_ids(coco.COCO_CLASSES), strict=True))
    # pairs from COCO 2017's annotation files, where the 80 ids run from 1 to 90
    known = {
        "person": 1,
        "stop sign": 13,
        "backpack": 27,
        "handbag": 31,
        "wine glass": 46,
        "dining table": 67,
        "toilet": 70,
        "tv": 72,
        "book": 84,
        "toothbrush": 90,
    }
    assert {name: ids[name] for name in known} == known
    assert len(set(ids.values())) == 80
    assert coco.category_ids(("cat", "dog", "bird")) == (1, 2, 3)
    assert coco.categories(("a", "b")) == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]


def test_a_batch_answer_keeps_each_image_in_its_place():
    first = encode.encode(DETECTIONS, "application/json", "m", IMAGE, precision="int8")
    refused = InvalidInput("the image could not be decoded")
    results = json.loads(encode.encode_batch([first, refused, first], "application/json"))[
        "results"
    ]
    assert results[0] == results[2] == json.loads(first)
    assert results[1] == {
        "error": {"code": "InvalidInput", "message": "the image could not be decoded"}
    }
    coco_rows = [
        encode.encode(
            DETECTIONS, "application/x-coco+json", "m", IMAGE, image_id=n, labels=coco.COCO_CLASSES
        )
        for n in (0, 2)
    ]
    merged = json.loads(
        encode.encode_batch([coco_rows[0], refused, coco_rows[1]], "application/x-coco+json")
    )
    assert [row["image_id"] for row in merged] == [0, 0, 2, 2]
    lines = encode.encode_batch([first, refused], "application/jsonlines").decode().splitlines()
    assert [list(json.loads(line)) for line in lines] == [
        ["model", "precision", "image", "detections"],
        ["error"],
    ]
    for media_type in ("image/jpeg", "application/x-npy"):
        with pytest.raises(RequestError) as refused_type:
            encode.check_batch_type(media_type)
        assert refused_type.value.status == 406
