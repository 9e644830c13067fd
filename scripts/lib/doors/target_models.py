"""The twin's multi-model endpoint: what SageMaker does for ``TargetModel``, on this machine.

SageMaker routes a request of a multi-model endpoint by its ``TargetModel`` (the header
``X-Amzn-SageMaker-Target-Model``): on the first request for a model it copies
``ModelDataUrl + TargetModel`` from S3, unpacks it under ``/opt/ml/models/<name>/model``, asks the
container to load it (``POST /models``), and from then on sends its requests to
``/models/<name>/invoke``. Here the archives come from ``model_data`` (an ``s3://`` prefix, read
through the standard AWS chain, or a local folder) and are unpacked under ``models_dir``, the
folder the server behind the twin loads from (``sm-detect serve --multi-model --models-dir``).
"""

import asyncio
import hashlib
import json
import os
import posixpath
import tempfile

import boto3
import botocore.exceptions
from aiohttp import ClientError

from container.door.upstream import Upstream
from scripts.lib.archives import archive
from scripts.lib.cloud import s3

LOAD_TIMEOUT_SECONDS = 630  # the container's own bound on a load (600 s), and some
MAX_TARGET_MODEL = 1024  # the runtime's limit on TargetModel


class TargetModelError(Exception):
    """A target model that cannot be served: the runtime's status, error type and message."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message


class TargetModels:
    """Archives under ``model_data``, loaded into the server behind the twin when first named."""

    def __init__(self, model_data: str, models_dir: str, region: str | None = None) -> None:
        self.model_data = model_data
        self.models_dir = os.path.abspath(models_dir)
        self.region = region
        self.locks: dict[str, asyncio.Lock] = {}  # name -> the lock its first load holds
        self.loaded: set[str] = set()

    @staticmethod
    def name_of(target_model: str) -> str:
        """The container's name for a target model: its file name, made safe, with a digest."""
        base = "".join(c if c.isalnum() or c in "._-" else "_" for c in target_model)[-80:]
        digest = hashlib.sha256(target_model.encode()).hexdigest()[:8]
        return f"{base.lstrip('._-') or 'model'}-{digest}"

    async def ensure_loaded(self, upstream: Upstream, target_model: str | None) -> str:
        """The server's name for ``target_model``, loaded if it was not; ``TargetModelError``.

        The path is normalized first, so that ``./a.tar.gz`` and ``a.tar.gz`` are one model."""
        normalized = posixpath.normpath(target_model or ".")
        if (
            len(target_model or "") > MAX_TARGET_MODEL
            or normalized in (".", "..")
            or normalized.startswith(("/", "../"))
        ):
            raise TargetModelError(
                400, "ValidationError", f"TargetModel {target_model!r} is not a model's path"
            )
        name = self.name_of(normalized)
        async with self.locks.setdefault(name, asyncio.Lock()):
            if name not in self.loaded:
                directory = os.path.join(self.models_dir, name, "model")
                if not os.path.isdir(directory):
                    await asyncio.to_thread(self.fetch, normalized, directory)
                await self.register(upstream, name, directory)
                self.loaded.add(name)
        return name

    def fetch(self, target_model: str, directory: str) -> None:
        """Copy the archive from ``model_data`` and unpack it safely into ``directory``."""
        with tempfile.TemporaryDirectory(prefix="sm-detect-target-") as work:
            if self.is_s3:
                local = os.path.join(work, "model.tar.gz")
                bucket, key = s3.parse_uri(self.model_data.rstrip("/") + "/" + target_model)
                try:
                    boto3.client("s3", region_name=self.region).download_file(bucket, key, local)
                except botocore.exceptions.ClientError:
                    raise TargetModelError(
                        400,
                        "ValidationError",
                        f"Failed to download model data(bucket: {bucket}, key: {key}). Please "
                        "ensure that there is an object located at the URL.",
                    ) from None
            else:
                local = os.path.join(self.model_data, target_model)
                if not os.path.isfile(local):
                    raise TargetModelError(
                        400, "ValidationError", f"Failed to find model data at {local}."
                    )
            partial = directory + ".partial"
            archive.safe_extract(local, partial)
            os.replace(partial, directory)

    @property
    def is_s3(self) -> bool:
        return self.model_data.startswith("s3://")

    async def register(self, upstream: Upstream, name: str, directory: str) -> None:
        """``POST /models`` to the server: loaded (200) or loaded already (409) are both fine."""
        try:
            answer = await upstream.post(
                "/models",
                json.dumps({"model_name": name, "url": directory}).encode(),
                {"Content-Type": "application/json"},
                LOAD_TIMEOUT_SECONDS,
            )
        except (TimeoutError, ClientError) as error:
            raise TargetModelError(
                500, "ModelError", f"the container did not load the model: {error}"
            ) from None
        if answer.status not in (200, 409):
            raise TargetModelError(
                answer.status if answer.status == 507 else 424,
                "ModelError",
                answer.body.decode(errors="replace")[:1000],
            )
