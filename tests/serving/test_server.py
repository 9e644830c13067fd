"""The real server (front door + multi-model-server + our handler) over HTTP on loopback."""

import base64
import io
import json
import os
import subprocess

import numpy as np
import pytest
import requests
from PIL import Image

from tests.helpers import SM_DETECT, encode_image, png_declaring, tiff_with_strip_offsets_of_type

pytestmark = pytest.mark.server
ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
ALL = {ATTRIBUTES: "threshold=0,max_detections=100"}  # the model's NMS keeps 100
CRAFTED_TIFF = tiff_with_strip_offsets_of_type(np.zeros((24, 32, 3), np.uint8), 5)


def invoke(server, body, content_type="image/jpeg", **headers):
    headers = {"Content-Type": content_type, **{k.replace("_", "-"): v for k, v in headers.items()}}
    return requests.post(f"{server.url}/invocations", data=body, headers=headers, timeout=120)


def assert_still_serving(server, body):
    assert requests.get(f"{server.url}/ping", timeout=10).status_code == 200
    response = invoke(server, body)
    assert response.status_code == 200
    assert response.json()["image"] == {"width": 512, "height": 512}


def test_ping(server):
    response = requests.get(f"{server.url}/ping", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "healthy"}


@pytest.mark.parametrize("content_type", ["image/jpeg", "application/x-image"])
def test_jpeg(server, astronaut_jpeg, content_type):
    response = invoke(server, astronaut_jpeg, content_type, **ALL)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    document = response.json()
    assert document["model"] == "yolo3_darknet53_coco"
    assert document["precision"] == "fp32"  # the fixture's archive is packaged without --precision
    assert document["image"] == {"width": 512, "height": 512}
    assert document["detections"], "the fixture model detects something in this photo"
    scores = [d["score"] for d in document["detections"]]
    assert scores == sorted(scores, reverse=True)
    for detection in document["detections"]:
        box = detection["box"]
        assert 0 <= box["xmin"] <= box["xmax"] <= 512 and 0 <= box["ymin"] <= box["ymax"] <= 512


def test_every_content_type_gives_the_same_answer(server, photos):
    photo = photos["coffee"]
    png = encode_image(photo, "PNG")
    npy = io.BytesIO()
    np.save(npy, photo)
    bodies = {
        "image/png": png,
        "application/x-image": png,
        "application/x-npy": npy.getvalue(),
        "application/json": json.dumps({"image": base64.b64encode(png).decode()}).encode(),
    }
    answers = {}
    for content_type, body in bodies.items():
        response = invoke(server, body, content_type, **ALL)
        assert response.status_code == 200, (content_type, response.text)
        answers[content_type] = response.json()
    first = answers["image/png"]
    assert first["detections"]
    assert all(answer == first for answer in answers.values())


def test_accept_types(server, astronaut_jpeg):
    plain = invoke(server, astronaut_jpeg, **ALL).json()

    lines = invoke(server, astronaut_jpeg, Accept="application/jsonlines", **ALL)
    assert lines.headers["Content-Type"].startswith("application/jsonlines")
    assert lines.content.count(b"\n") == 1 and json.loads(lines.content) == plain

    npy = invoke(server, astronaut_jpeg, Accept="application/x-npy", **ALL)
    assert npy.headers["Content-Type"].startswith("application/x-npy")
    rows = np.load(io.BytesIO(npy.content), allow_pickle=False)
    assert rows.shape == (len(plain["detections"]), 6)
    assert rows[0, 0] == plain["detections"][0]["class_id"]

    for accept, image_format in (("image/jpeg", "JPEG"), ("image/png", "PNG")):
        drawn = invoke(server, astronaut_jpeg, Accept=accept, **ALL)
        assert drawn.headers["Content-Type"].startswith(accept)
        picture = Image.open(io.BytesIO(drawn.content))
        assert picture.format == image_format and picture.size == (512, 512)

    for accept in ("*/*", "application/json"):
        response = invoke(server, astronaut_jpeg, Accept=accept, **ALL)
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.json() == plain


def test_custom_attributes(server, astronaut_jpeg):
    everything = invoke(server, astronaut_jpeg, **ALL).json()["detections"]
    assert len(everything) > 3
    top = invoke(server, astronaut_jpeg, **{ATTRIBUTES: "threshold=0,max_detections=3"}).json()
    assert top["detections"] == everything[:3]

    middle = len(everything) // 2  # a threshold between two reported scores, clear of rounding
    cut = (everything[middle - 1]["score"] + everything[middle]["score"]) / 2
    high = invoke(server, astronaut_jpeg, **{ATTRIBUTES: f"threshold={cut}"}).json()
    assert high["detections"] == [d for d in everything if d["score"] >= cut]

    label = everything[0]["label"]
    only = invoke(server, astronaut_jpeg, **{ATTRIBUTES: f"threshold=0,classes={label}"}).json()
    assert only["detections"] == [d for d in everything if d["label"] == label]


@pytest.mark.parametrize(
    "body, content_type, headers, status, code",
    [
        (b"hello", "text/plain", {}, 415, "UnsupportedContentType"),
        (None, "image/jpeg", {"Accept": "text/html"}, 406, "UnsupportedAccept"),
        (b"this is not a jpeg", "image/jpeg", {}, 400, "InvalidInput"),
        (b"", "image/jpeg", {}, 400, "InvalidInput"),
        (b'{"image": "!!"}', "application/json", {}, 400, "InvalidInput"),
        (None, "image/jpeg", {ATTRIBUTES: "threshold=7"}, 400, "InvalidParameter"),
        (None, "image/jpeg", {ATTRIBUTES: "colour=red"}, 400, "InvalidParameter"),
        (None, "image/jpeg", {ATTRIBUTES: "classes=unicorn"}, 400, "InvalidParameter"),
        (None, "image/jpeg", {ATTRIBUTES: "max_detections=101"}, 400, "InvalidParameter"),
        (png_declaring(30000, 30000), "image/png", {}, 413, "PayloadTooLarge"),
        (CRAFTED_TIFF, "image/tiff", {}, 400, "InvalidInput"),
    ],
)
def test_client_errors(server, astronaut_jpeg, body, content_type, headers, status, code):
    response = invoke(server, astronaut_jpeg if body is None else body, content_type, **headers)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert_still_serving(server, astronaut_jpeg)


def test_more_detections_than_the_model_keeps_is_refused_not_cut(server, astronaut_jpeg):
    response = invoke(server, astronaut_jpeg, **{ATTRIBUTES: "threshold=0,max_detections=500"})
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "max_detections=500" in message and "at most 100" in message
    assert len(invoke(server, astronaut_jpeg, **ALL).json()["detections"]) == 100


def test_payload_over_the_limit(server, astronaut_jpeg):
    response = invoke(server, os.urandom(6 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PayloadTooLarge"
    assert_still_serving(server, astronaut_jpeg)


def test_unknown_path_and_method(server, astronaut_jpeg):
    missing = requests.get(f"{server.url}/nothing-here", timeout=10)
    assert missing.status_code == 404 and "error" in missing.json()
    wrong_method = requests.get(f"{server.url}/invocations", timeout=10)
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()
    assert_still_serving(server, astronaut_jpeg)


def test_execution_parameters(server):
    parameters = requests.get(f"{server.url}/execution-parameters", timeout=10).json()
    assert parameters == {
        "MaxConcurrentTransforms": 1,
        "BatchStrategy": "SINGLE_RECORD",
        "MaxPayloadInMB": 6,
    }


def test_invoke_command(server, photos, tmp_path):
    image = tmp_path / "astronaut.png"
    image.write_bytes(encode_image(photos["astronaut"], "PNG"))
    drawn = tmp_path / "out.png"
    command = [SM_DETECT, "invoke", "--url", server.url, str(image), "--threshold", "0"]
    raw = subprocess.run(
        [*command, "--json"], capture_output=True, text=True, check=True, timeout=600
    )
    document = json.loads(raw.stdout)
    table = subprocess.run(
        [*command, "--draw", str(drawn)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    assert f"{len(document['detections'])} detection(s) in 512x512" in table.stdout
    squared = subprocess.run(
        [*command, "--mode", "square320", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    direct = invoke(
        server, image.read_bytes(), "image/png", **{ATTRIBUTES: "threshold=0,mode=square320"}
    )
    assert json.loads(squared.stdout) == direct.json() != document
    assert document["detections"][0]["label"] in table.stdout.splitlines()[2]
    assert Image.open(drawn).size == (512, 512)


@pytest.mark.parametrize(
    "suffix, image_format", [("gif", "GIF"), ("bmp", "BMP"), ("tif", "TIFF"), ("webp", "WEBP")]
)
def test_invoke_command_sends_any_image_file(server, photos, tmp_path, suffix, image_format):
    image = tmp_path / f"coffee.{suffix}"
    image.write_bytes(encode_image(photos["coffee"], image_format))
    result = subprocess.run(
        [SM_DETECT, "invoke", "--url", server.url, str(image), "--threshold", "0", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["image"] == {"width": 600, "height": 400}


def test_invoke_command_reports_errors_in_one_line(server, tmp_path):
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("just text")
    result = subprocess.run(
        [SM_DETECT, "invoke", "--url", server.url, str(not_an_image)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1
    assert "400" in result.stderr and "InvalidInput" in result.stderr
    assert "Traceback" not in result.stderr


def test_invoke_takes_an_address_without_its_scheme(server, astronaut_jpeg, tmp_path):
    image = tmp_path / "astronaut.jpg"
    image.write_bytes(astronaut_jpeg)
    bare = server.url.removeprefix("http://")
    result = subprocess.run(
        [SM_DETECT, "invoke", "--url", bare, str(image), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["image"] == {"width": 512, "height": 512}


def test_print_curl_with_url_prints_and_sends_nothing(server, astronaut_jpeg, tmp_path):
    image = tmp_path / "astronaut.jpg"
    image.write_bytes(astronaut_jpeg)
    before = server.log.count("POST /invocations ")
    printed = subprocess.run(
        [
            SM_DETECT,
            "invoke",
            "--url",
            server.url,
            str(image),
            "--threshold",
            "0.1",
            "--print-curl",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith("curl ") and "--aws-sigv4" not in printed.stdout
    assert server.log.count("POST /invocations ") == before  # printed, not sent
    ran = subprocess.run(["bash", "-c", printed.stdout], capture_output=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    direct = invoke(server, astronaut_jpeg, **{ATTRIBUTES: "threshold=0.1"})
    assert json.loads(ran.stdout) == direct.json()
