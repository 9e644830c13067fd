"""It keeps serving: a corpus of bad input and 1000 fuzzed requests against the real server.

After every bad request the server must answer /ping with 200 and a valid request correctly.
"""

import base64
import io
import json
import random
import struct

import numpy as np
import pytest
import requests
import skimage.data
from PIL import Image

from inference.headers import CUSTOM_ATTRIBUTES
from tests.helpers import encode_image, png_declaring

pytestmark = pytest.mark.server
FUZZ_CASES = 1000


def jpeg_declaring(width, height):
    """A small JPEG whose frame header (SOF0) claims width x height."""
    body = bytearray(encode_image(np.zeros((8, 8, 3), np.uint8), "JPEG"))
    frame = body.index(b"\xff\xc0")
    body[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    return bytes(body)


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def png_of(mode, size=(48, 32), **info):
    picture = Image.new(mode, size)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", **info)
    return buffer.getvalue()


def exif_rotated_jpeg():
    """Stored 64 wide and 32 high, with EXIF orientation 6: a viewer shows 32 x 64."""
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.new("RGB", (64, 32), (200, 30, 30)).save(buffer, format="JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def animated(image_format):
    frames = [Image.new("RGB", (40, 30), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format=image_format, save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def corpus(photo_jpeg):
    """(name, body, content type, extra headers, expected status, expected image size)."""
    noise = np.random.default_rng(3).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    small = encode_image(noise, "PNG")  # noise: its pixel data is most of the file
    cmyk = io.BytesIO()
    Image.new("CMYK", (48, 32), (0, 255, 255, 0)).save(cmyk, format="JPEG")
    sixteen = io.BytesIO()
    Image.fromarray(np.full((32, 48), 40000, np.uint16), mode="I;16").save(sixteen, format="PNG")
    return [
        ("zero bytes", b"", "image/jpeg", {}, 400, None),
        ("text as JPEG", b"hello world\n" * 20, "image/jpeg", {}, 400, None),
        ("HTML as PNG", b"<!doctype html><html><body>x</body></html>", "image/png", {}, 400, None),
        (
            "PDF as JPEG",
            b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF",
            "image/jpeg",
            {},
            400,
            None,
        ),
        ("ZIP as image", b"PK\x03\x04\x14\x00" + bytes(60), "application/x-image", {}, 400, None),
        ("truncated JPEG", photo_jpeg[: len(photo_jpeg) // 3], "image/jpeg", {}, 400, None),
        ("truncated PNG", small[: len(small) // 2], "image/png", {}, 400, None),
        ("PNG bomb 30000x30000", png_declaring(30000, 30000), "image/png", {}, 413, None),
        ("JPEG bomb 30000x30000", jpeg_declaring(30000, 30000), "image/jpeg", {}, 413, None),
        ("CMYK JPEG", cmyk.getvalue(), "image/jpeg", {}, 200, (48, 32)),
        ("16-bit PNG", sixteen.getvalue(), "image/png", {}, 200, (48, 32)),
        ("grayscale PNG", png_of("L"), "image/png", {}, 200, (48, 32)),
        ("palette PNG", png_of("P"), "image/png", {}, 200, (48, 32)),
        ("alpha PNG", png_of("RGBA"), "image/png", {}, 200, (48, 32)),
        ("EXIF-rotated JPEG", exif_rotated_jpeg(), "image/jpeg", {}, 200, (32, 64)),
        ("animated GIF", animated("GIF"), "application/x-image", {}, 200, (40, 30)),
        ("animated WebP", animated("WEBP"), "application/x-image", {}, 200, (40, 30)),
        (
            "NPY object dtype",
            npy(np.array([[["a", "b", "c"]]], dtype=object)),
            "application/x-npy",
            {},
            400,
            None,
        ),
        ("NPY wrong rank", npy(np.zeros((8, 8), np.uint8)), "application/x-npy", {}, 400, None),
        (
            "NPY wrong dtype",
            npy(np.zeros((8, 8, 3), np.float64)),
            "application/x-npy",
            {},
            400,
            None,
        ),
        ("JSON bad base64", b'{"image": "not base64 at all!"}', "application/json", {}, 400, None),
        ("JSON wrong keys", b'{"img": "aGVsbG8="}', "application/json", {}, 400, None),
        (
            "JSON nested garbage",
            json.dumps({"image": [[{"a": [1, {"b": None}]}]] * 50}).encode(),
            "application/json",
            {},
            400,
            None,
        ),
        (
            "attribute unknown key",
            photo_jpeg,
            "image/jpeg",
            {CUSTOM_ATTRIBUTES: "colour=blue"},
            400,
            None,
        ),
        (
            "attribute NaN",
            photo_jpeg,
            "image/jpeg",
            {CUSTOM_ATTRIBUTES: "threshold=nan"},
            400,
            None,
        ),
        (
            "attribute negative",
            photo_jpeg,
            "image/jpeg",
            {CUSTOM_ATTRIBUTES: "max_detections=-4"},
            400,
            None,
        ),
        (
            "attribute huge",
            photo_jpeg,
            "image/jpeg",
            {CUSTOM_ATTRIBUTES: "max_detections=" + "9" * 400},
            400,
            None,
        ),
        ("wrong Content-Type", photo_jpeg, "text/csv", {}, 415, None),
        ("unsupported Accept", photo_jpeg, "image/jpeg", {"Accept": "text/html"}, 406, None),
        ("body over the limit", bytes(6 * 1024 * 1024 + 10), "image/jpeg", {}, 413, None),
    ]


def post(server, body, content_type, headers=None, timeout=120):
    return requests.post(
        f"{server.url}/invocations",
        data=body,
        timeout=timeout,
        headers={"Content-Type": content_type, **(headers or {})},
    )


CORPUS = corpus(encode_image(skimage.data.astronaut(), "JPEG", quality=92))


@pytest.mark.parametrize(
    "name, body, content_type, headers, status, size", CORPUS, ids=[case[0] for case in CORPUS]
)
def test_bad_input_corpus(server, name, body, content_type, headers, status, size):
    response = post(server, body, content_type, headers)
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/json")
    if status == 200:
        image = response.json()["image"]
        assert (image["width"], image["height"]) == size
    else:
        assert response.json()["error"]["message"]
    # the server is still whole: healthy, and a valid request is answered correctly
    assert requests.get(f"{server.url}/ping", timeout=10).status_code == 200
    small_jpeg = encode_image(np.full((64, 64, 3), 120, np.uint8), "JPEG")
    valid = post(server, small_jpeg, "image/jpeg")
    assert valid.status_code == 200 and valid.json()["image"] == {"width": 64, "height": 64}


def fuzzed_request(rng, seeds):
    """A random body and random headers, half of them near-valid."""
    kind = rng.random()
    if kind < 0.4:
        body = rng.randbytes(rng.randint(0, 3000))
    elif kind < 0.7:
        body = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 20)):
            body[rng.randrange(min(len(body), 200))] = rng.randrange(256)
        body = bytes(body[: rng.randint(1, len(body))])
    elif kind < 0.85:
        body = json.dumps(
            {
                rng.choice(["image", "img", ""]): rng.choice(
                    [
                        base64.b64encode(rng.randbytes(50)).decode(),
                        rng.random(),
                        None,
                        [1, 2],
                        "".join(rng.choice("ab=+/") for _ in range(30)),
                    ]
                )
            }
        ).encode()
    else:
        descr = rng.choice(["|u1", "<f8", "|O", "<i4", "garbage"])
        shape = (rng.randint(-1, 99999), rng.randint(0, 9), rng.randint(0, 5))
        header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
        body = (
            b"\x93NUMPY\x01\x00"
            + struct.pack("<H", len(header) + 1)
            + header.encode()
            + b"\n"
            + rng.randbytes(rng.randint(0, 100))
        )
    content_type = rng.choice(
        [
            "image/jpeg",
            "image/png",
            "application/x-image",
            "application/x-npy",
            "application/json",
            "text/plain",
            "image/jpeg; charset=x",
            "",
            "a/" + "b" * 300,
        ]
    )
    headers = {
        "Accept": rng.choice(
            [  # mostly acceptable, so that most bodies reach the decoder
                "application/json",
                "application/json",
                "application/json",
                "*/*",
                "image/png",
                "text/html",
                "application/x-npy;q=0.1, image/*",
                ";;;",
                "x" * 200,
            ]
        )
    }
    if rng.random() < 0.5:
        headers[CUSTOM_ATTRIBUTES] = rng.choice(
            [
                "threshold=" + str(rng.uniform(-2, 2)),
                "max_detections=" + str(rng.randint(-5, 5000)),
                "classes="
                + ";".join(rng.choice(["dog", "person", "", "x;y", "="]) for _ in range(3)),
                "".join(chr(rng.randrange(32, 127)) for _ in range(rng.randint(0, 80))).strip(),
            ]
        )
    return body, content_type, headers


def test_fuzzed_requests_never_break_the_server(server, photos):
    rng = random.Random(20261126)
    seeds = [
        encode_image(np.asarray(Image.fromarray(photos["coffee"]).resize((40, 30))), fmt)
        for fmt in ("JPEG", "PNG", "GIF")
    ]
    statuses = {}
    for _ in range(FUZZ_CASES):
        body, content_type, headers = fuzzed_request(rng, seeds)
        response = post(server, body, content_type, headers)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (content_type, headers, body[:80], response.text)
    print(f"\nfuzzed requests: {FUZZ_CASES}, statuses: {dict(sorted(statuses.items()))}")
    # the fuzzer reached several of the server's refusals, not only one kind of mistake
    assert len({status for status in statuses if 400 <= status < 500}) >= 2, statuses
    assert requests.get(f"{server.url}/ping", timeout=10).status_code == 200
    assert post(server, seeds[0], "image/jpeg").status_code == 200
