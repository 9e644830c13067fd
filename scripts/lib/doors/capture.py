"""Data capture on this machine: each request and its answer written as SageMaker's data capture
writes them to S3, so that what reads an endpoint's captures (``sm-detect captures``,
``sm-detect compare``) reads the twin's from a folder.

Files are JSON Lines under ``ROOT/ENDPOINT/VARIANT/yyyy/mm/dd/hh/``, one event per line:
``captureData.endpointInput`` (the request, base64) and ``endpointOutput`` (the answer: JSON as
text, anything else base64), and ``eventMetadata`` with the ``eventId`` (a request's copy to a
shadow has its production answer's id), the caller's ``inferenceId`` if it gave one, and the
``inferenceTime``. The twin adds what SageMaker keeps in CloudWatch instead:
``eventMetadata.modelLatency``, in microseconds as ModelLatency is. The callers' photos are in
them: folders and files are the owner's alone (0700, 0600), whatever the umask.
"""

import base64
import datetime
import errno
import json
import os
import threading
import uuid

from inference import content_types

JSON_TYPES = (content_types.JSON, content_types.JSONLINES)


def captured(body: bytes, content_type: str, mode: str) -> dict[str, str]:
    """One side of an event, encoded as SageMaker encodes it."""
    if content_types.base(content_type) in JSON_TYPES:
        data, encoding = body.decode("utf-8", errors="replace"), "JSON"
    else:
        data, encoding = base64.b64encode(body).decode("ascii"), "BASE64"
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


class CaptureWriter:
    """Appends events to one file per variant and hour; safe to call from several threads."""

    def __init__(self, root: str, endpoint: str) -> None:
        """``OSError`` when ``root`` cannot be made or written to."""
        os.makedirs(root, mode=0o700, exist_ok=True)
        if not os.access(root, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "Permission denied", root)
        self.root = root
        self.endpoint = endpoint
        self.lock = threading.Lock()
        self.files: dict[tuple[str, str], str] = {}  # (variant, hour folder) -> path

    def path(self, variant: str, moment: datetime.datetime) -> str:
        folder = os.path.join(self.root, self.endpoint, variant, moment.strftime("%Y/%m/%d/%H"))
        key = (variant, folder)
        if key not in self.files:
            private_folders(self.root, folder)
            name = f"{moment:%M-%S}-{moment.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
            self.files[key] = os.path.join(folder, name)
        return self.files[key]

    def write(
        self,
        variant: str,
        event: tuple[str, str | None],
        request: tuple[bytes, str],
        answer: tuple[bytes, str],
        latency_seconds: float,
    ) -> None:
        """Record one event; ``event`` is (its id, the caller's inference id or None),
        ``request`` and ``answer`` are (body, content type)."""
        event_id, inference_id = event
        moment = datetime.datetime.now(datetime.UTC)
        line = {
            "captureData": {
                "endpointInput": captured(request[0], request[1], "INPUT"),
                "endpointOutput": captured(answer[0], answer[1], "OUTPUT"),
            },
            "eventMetadata": {
                "eventId": event_id,
                **({"inferenceId": inference_id} if inference_id else {}),
                "inferenceTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "modelLatency": round(latency_seconds * 1e6),
            },
            "eventVersion": "0",
        }
        text = json.dumps(line) + "\n"
        with self.lock:
            descriptor = os.open(
                self.path(variant, moment), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600
            )
            with os.fdopen(descriptor, "a", encoding="utf-8") as file:
                file.write(text)


def private_folders(root: str, folder: str) -> None:
    """``folder`` and every folder between it and ``root``, made for the owner alone."""
    missing: list[str] = []
    while folder != root and not os.path.isdir(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    for made in reversed(missing):
        os.makedirs(made, mode=0o700, exist_ok=True)
        os.chmod(made, 0o700)
