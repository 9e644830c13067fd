"""Several images in one request, images read from S3 (moto on loopback), normalized boxes and
COCO results, through a real server: the front door, multi-model-server and its worker."""

import base64
import contextlib
import io
import json
import subprocess

import boto3
import pytest
import requests

from inference import coco
from inference.headers import CUSTOM_ATTRIBUTES
from tests.agreement import assert_same_detections
from tests.helpers import AWS_REGION, SM_DETECT, encode_image
from tests.servers import QUICK_START, running_server

SQUARE = {CUSTOM_ATTRIBUTES: "threshold=0.05,mode=square320"}


@pytest.fixture(scope="module")
def bucket(moto_settings, photos):
    """Bucket ``photos`` (the server may read it) with a photograph, a file too big and a text
    file in it; bucket ``private`` (it may not) with a photograph."""
    s3 = boto3.client(
        "s3",
        region_name=AWS_REGION,
        endpoint_url=moto_settings["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # pragma: allowlist secret
    )
    astronaut = encode_image(photos["astronaut"], "JPEG", quality=92)
    for name in ("photos", "private"):
        s3.create_bucket(Bucket=name)
    s3.put_object(Bucket="photos", Key="dir/astronaut.jpg", Body=astronaut)
    s3.put_object(Bucket="photos", Key="big.jpg", Body=astronaut + b"\0" * (1 << 20))
    s3.put_object(Bucket="photos", Key="notes.txt", Body=b"not an image")
    s3.put_object(Bucket="private", Key="astronaut.jpg", Body=astronaut)
    return astronaut


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory, model_archive, moto_settings, bucket):
    env = {
        **moto_settings,
        **QUICK_START,
        "SM_DETECT_S3_BUCKETS": "photos",
        "SM_DETECT_S3_MAX_MB": "1",
    }
    with running_server(model_archive, tmp_path_factory.mktemp("s3-server"), **env) as server:
        yield server


def post_json(server, document, accept="application/json", headers=SQUARE):
    return requests.post(
        f"{server.url}/invocations",
        data=json.dumps(document),
        headers={"Content-Type": "application/json", "Accept": accept, **headers},
        timeout=120,
    )


def inline(body):
    return {"image": base64.b64encode(body).decode()}


def single(server, body):
    response = requests.post(
        f"{server.url}/invocations",
        data=body,
        headers={"Content-Type": "image/jpeg", **SQUARE},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_mixed_batch_answers_each_image_in_order(s3_server, bucket, photos):
    coffee = encode_image(photos["coffee"], "JPEG")
    response = post_json(
        s3_server,
        {
            "images": [
                inline(bucket),
                inline(coffee),
                inline(bucket[: len(bucket) // 3]),  # a truncated JPEG
                {"s3_uri": "s3://photos/dir/astronaut.jpg"},
                {"s3_uri": "s3://photos/dir/missing.jpg"},
            ]
        },
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [result.get("error", {}).get("code") for result in results] == [
        None,
        None,
        "InvalidInput",
        None,
        "S3ObjectNotFound",
    ]
    # each image answered as it is alone, the S3 copy as the inline one
    # (cut: a hundred detections, this model's NMS cap, may end on different ties)
    alone = single(s3_server, bucket)["detections"]
    assert_same_detections(results[0]["detections"], alone, cut=True)
    assert_same_detections(
        results[1]["detections"], single(s3_server, coffee)["detections"], cut=True
    )
    assert_same_detections(results[3]["detections"], results[0]["detections"], cut=True)
    assert results[0]["image"] == {"width": 512, "height": 512}
    assert results[1]["image"] == {"width": 600, "height": 400}


def moto_requests_naming(moto, text):
    return sum(text in line for line in moto.log.splitlines() if "HTTP/1.1" in line)


@pytest.mark.parametrize(
    "uri, status, code",
    [
        ("s3://photos/dir/missing.jpg", 404, "S3ObjectNotFound"),
        ("s3://photos/big.jpg", 413, "PayloadTooLarge"),
        ("s3://photos/notes.txt", 400, "InvalidInput"),
        ("https://photos.s3.amazonaws.com/dir/astronaut.jpg", 400, "InvalidInput"),
        ("http://127.0.0.1:1/latest/meta-data/", 400, "InvalidInput"),
    ],
)
def test_what_s3_input_refuses_is_a_4xx_naming_the_reason(s3_server, uri, status, code):
    response = post_json(s3_server, {"s3_uri": uri})
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert requests.get(f"{s3_server.url}/ping", timeout=10).status_code == 200


def test_a_bucket_not_listed_is_refused_before_any_s3_call(s3_server, moto):
    before = moto_requests_naming(moto, "/private/")
    response = post_json(s3_server, {"s3_uri": "s3://private/astronaut.jpg"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "S3BucketNotAllowed"
    assert "it reads from photos" in response.json()["error"]["message"]
    # the listed bucket's reads do reach moto, so its log is where an unlisted one's would be
    reached = moto_requests_naming(moto, "/photos/dir/astronaut.jpg")
    assert post_json(s3_server, {"s3_uri": "s3://photos/dir/astronaut.jpg"}).status_code == 200
    assert moto_requests_naming(moto, "/photos/dir/astronaut.jpg") == reached + 1
    assert moto_requests_naming(moto, "/private/") == before


def test_a_batch_nothing_of_which_could_be_read_is_a_4xx_with_each_error(s3_server):
    response = post_json(
        s3_server,
        {"images": [{"s3_uri": "s3://photos/nothing.jpg"}, {"s3_uri": "s3://photos/no.jpg"}]},
    )
    assert response.status_code == 404
    assert [result["error"]["code"] for result in response.json()["results"]] == [
        "S3ObjectNotFound"
    ] * 2


def test_a_batch_is_bounded_and_answered_in_text_only(s3_server, bucket):
    too_many = post_json(s3_server, {"images": [inline(bucket)] * 17})
    assert too_many.status_code == 400 and "SM_DETECT_MAX_IMAGES" in too_many.text
    picture = post_json(s3_server, {"images": [inline(bucket)]}, accept="image/jpeg")
    assert picture.status_code == 406


def test_normalized_boxes_times_the_image_size_are_the_pixel_boxes(s3_server, bucket):
    pixels = single(s3_server, bucket)
    normalized = post_json(
        s3_server,
        inline(bucket),
        headers={CUSTOM_ATTRIBUTES: "threshold=0.05,mode=square320,coordinates=normalized"},
    ).json()
    width, height = pixels["image"]["width"], pixels["image"]["height"]
    assert len(normalized["detections"]) == len(pixels["detections"]) > 0
    for fraction, pixel in zip(normalized["detections"], pixels["detections"], strict=True):
        for key, side in (("xmin", width), ("ymin", height), ("xmax", width), ("ymax", height)):
            assert fraction["box"][key] * side == pytest.approx(pixel["box"][key], abs=0.01)


def test_coco_results_load_in_pycocotools_with_cocos_category_ids(s3_server, bucket, photos):
    from pycocotools.coco import COCO

    coffee = encode_image(photos["coffee"], "JPEG")
    answer = post_json(
        s3_server,
        {"images": [{**inline(bucket), "image_id": 397133}, inline(coffee)]},
        accept="application/x-coco+json",
    )
    assert answer.status_code == 200, answer.text
    rows = answer.json()
    assert {row["image_id"] for row in rows} == {397133, 1}  # its own id, else its position
    ground_truth = COCO()
    ground_truth.dataset = {
        "images": [
            {"id": 397133, "width": 512, "height": 512, "file_name": "astronaut.jpg"},
            {"id": 1, "width": 600, "height": 400, "file_name": "coffee.jpg"},
        ],
        "annotations": [],
        "categories": coco.categories(coco.COCO_CLASSES),
    }
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth.createIndex()
        loaded = ground_truth.loadRes(rows)
    assert len(loaded.getAnnIds()) == len(rows) > 0
    assert {row["category_id"] for row in rows} <= set(coco.COCO_IDS)
    assert not {row["category_id"] for row in rows} & coco.UNUSED_IDS
    single_image = post_json(
        s3_server,
        inline(bucket),
        accept="application/x-coco+json",
        headers={CUSTOM_ATTRIBUTES: "threshold=0.05,mode=square320,image_id=7"},
    ).json()
    assert {row["image_id"] for row in single_image} == {7}
    assert len(single_image) == sum(row["image_id"] == 397133 for row in rows)


def test_invoke_sends_files_and_s3_objects_as_one_batch(s3_server, bucket, tmp_path):
    (tmp_path / "astronaut.jpg").write_bytes(bucket)
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    shown = subprocess.run(
        [
            *(SM_DETECT, "invoke", "--url", s3_server.url, "--batch", "--mode", "square320"),
            *(str(tmp_path / "astronaut.jpg"), str(tmp_path / "broken.jpg")),
            "s3://photos/dir/astronaut.jpg",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    sections = shown.stdout.split("== ")[1:]
    assert [section.splitlines()[0] for section in sections] == [
        str(tmp_path / "astronaut.jpg"),
        str(tmp_path / "broken.jpg"),
        "s3://photos/dir/astronaut.jpg",
    ]
    assert "detection(s) in 512x512" in sections[0] and "error: InvalidInput" in sections[1]
    assert sections[0].splitlines()[1:] == sections[2].splitlines()[1:]
