"""Helpers the tests share: where things are, images made in memory, the command line.

Fixtures live in conftest.py; servers are started by tests/servers.py; answers from different
processes are compared by tests/agreement.py.
"""

import io
import json
import os
import struct
import subprocess
import sys
import zlib

from PIL import Image

SM_DETECT = os.path.join(os.path.dirname(sys.executable), "sm-detect")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = "localhost/sm-detect:test"
# a long command's own limit (an image build, INT8 packaging, the notebook): inside pytest's
# 900 s per test, so that the command's timeout fires first, with its output in the failure
LONG_COMMAND_SECONDS = 840
AWS_REGION = "us-east-1"
# a trust policy SageMaker can assume, for execution roles made in moto
SAGEMAKER_TRUST = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": '
    '{"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
)


def encode_image(array, image_format, **options):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=image_format, **options)
    return buffer.getvalue()


def png_declaring(width, height):
    """A PNG whose header claims width x height pixels, with almost no pixel data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    data = zlib.compress(b"\0" * 64)
    idat = (
        struct.pack(">I", len(data))
        + b"IDAT"
        + data
        + struct.pack(">I", zlib.crc32(b"IDAT" + data))
    )
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat


def cli(*args, env, timeout=600):
    """``sm-detect ARGS`` as a user runs it: its exit code, stdout and stderr."""
    return subprocess.run(
        [SM_DETECT, *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def tiff_with_strip_offsets_of_type(array, field_type):
    """A TIFF of ``array`` whose StripOffsets entry claims another TIFF field type.

    Type 5 (RATIONAL) makes Pillow read the offset as a fraction and fail with TypeError deep
    in its loader: the kind of crafted file an attacker sends, 2.4 KB for a 32x24 image.
    """
    body = bytearray(encode_image(array, "TIFF"))
    assert body[:4] == b"II*\0", "Pillow writes little-endian TIFFs"
    ifd = struct.unpack_from("<I", body, 4)[0]
    for index in range(struct.unpack_from("<H", body, ifd)[0]):
        entry = ifd + 2 + 12 * index
        if struct.unpack_from("<H", body, entry)[0] == 273:  # StripOffsets
            struct.pack_into("<H", body, entry + 2, field_type)
            return bytes(body)
    raise AssertionError("no StripOffsets entry")


CUSTOM_CLASSES = ("helmet", "vest", "boots")


def package_custom_detector(folder, name="custom.tar.gz"):
    """A fine-tuned detector's archive (GluonCV's yolo3_darknet53_custom, random weights) with
    its own class list, as `sm-detect package --classes` makes it; its path."""
    classes = folder / "classes.txt"
    classes.write_text("\n".join(CUSTOM_CLASSES) + "\n")
    output = folder / name
    made = cli(
        "package", "--weights", "random", "--classes", str(classes), "-o", str(output), env=None
    )
    assert made.returncode == 0, made.stderr[-2000:]
    return output


def captured_event(answer, **metadata):
    """One line of SageMaker's data capture: an image request (its bytes left out) and ``answer``
    as JSON, with ``metadata`` (``eventId``, ``inferenceId``, ``inferenceTime``)."""
    return {
        "eventMetadata": metadata,
        "captureData": {
            "endpointInput": {
                "observedContentType": "image/jpeg",
                "data": "",
                "encoding": "BASE64",
            },
            "endpointOutput": {
                "observedContentType": "application/json",
                "data": json.dumps(answer),
                "encoding": "JSON",
            },
        },
    }
