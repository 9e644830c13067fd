"""SageMaker's multi-model contract, spoken by the front door over MMS's private management API.

A multi-model endpoint (``SAGEMAKER_MULTI_MODEL=true``) starts with no model. SageMaker unpacks
each model it is asked for under ``/opt/ml/models/<name>/model`` and tells the container:

- ``POST /models`` ``{"model_name": NAME, "url": DIR}``: load DIR as NAME. 200 when loaded, 409
  when NAME is loaded already, 507 when memory will not hold it (SageMaker then unloads a cold
  model and asks again), and a 4xx in the project's shape for a DIR that is missing, outside the
  models root, or not a model;
- ``GET /models`` (``next_page_token``, ``limit``), ``GET /models/NAME``, ``DELETE /models/NAME``;
- ``POST /models/NAME/invoke``: an invocation of that model, the same contract as
  ``/invocations`` (the front door's ``invoke``).

MMS loads and serves each model with its own workers, which read the model's own ``model.json``
(classes, preprocessing). Its management API stays on its private socket: this module checks
what a caller may load before MMS sees it. An archive's ``code/`` never runs here: the trust rule
(``SM_DETECT_ARCHIVE_CODE``) is for the one model of a single-model endpoint.
"""

import logging
import os
import re

from aiohttp import ClientError, web

from container.door.responses import error_response
from container.settings import WORKER_MEMORY_BYTES

logger = logging.getLogger("sm-detect.multi-model")

MANAGEMENT_TIMEOUT_SECONDS = 10
LOAD_TIMEOUT_SECONDS = 300  # a model's workers load it, then warm every canvas
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
DEFAULT_PAGE = 100


class Refusal(Exception):
    """A management request refused: its status, code and message, in the project's shape."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class ModelRegistry:
    """Which models are loaded, through MMS's management API; what a load may cost."""

    def __init__(self, management, models_dir, memory_budget_bytes, workers_per_model):
        self.management = management
        self.models_dir = os.path.realpath(models_dir)
        self.memory_budget_bytes = memory_budget_bytes
        self.workers_per_model = workers_per_model
        self.costs = {}  # name -> bytes its workers may take at their peak

    def attach(self, app, invoke):
        """The contract's routes on ``app``; ``invoke(request, model_name)`` answers invocations."""

        async def invoke_model(request):
            return await invoke(request, request.match_info["name"])

        app.router.add_post("/models", self.load)
        app.router.add_get("/models", self.list)
        app.router.add_get("/models/{name}", self.describe)
        app.router.add_delete("/models/{name}", self.unload)
        app.router.add_post("/models/{name}/invoke", invoke_model)

    async def ready(self):
        """A multi-model server is ready when MMS answers, with or without models."""
        try:
            status, _ = await self.management.get_json("/models", MANAGEMENT_TIMEOUT_SECONDS)
        except (TimeoutError, ClientError):
            return False
        return status == 200

    async def loaded(self, name):
        status, _ = await self.management.get_json(f"/models/{name}", MANAGEMENT_TIMEOUT_SECONDS)
        return status == 200

    # -- the routes ---------------------------------------------------------------------------
    async def load(self, request):
        try:
            name, directory = await self.requested_load(request)
            metadata = self.check_model(directory)
            if await self.loaded(name):
                raise Refusal(409, "ModelAlreadyLoaded", f"model {name} is loaded already")
            cost = WORKER_MEMORY_BYTES[metadata.precision] * self.workers_per_model
            self.check_memory(name, cost)
            await self.register(name, directory)
        except Refusal as refused:
            return error_response(refused.status, refused.code, refused.message)
        self.costs[name] = cost
        logger.info("loaded model %s from %s (%s)", name, directory, metadata.precision)
        return web.json_response({"status": f"model {name} loaded"})

    async def list(self, request):
        try:
            limit = int(request.query.get("limit", DEFAULT_PAGE))
            token = int(request.query.get("next_page_token", 0))
        except ValueError:
            return error_response(400, "ValidationError", "limit and next_page_token are numbers")
        if not 1 <= limit <= 1000 or token < 0:
            return error_response(400, "ValidationError", "limit is 1 to 1000, the token 0 or more")
        params = {"limit": str(limit), "next_page_token": str(token)}
        status, listed = await self.management.call(
            "GET", "/models", MANAGEMENT_TIMEOUT_SECONDS, params
        )
        if status != 200 or not isinstance(listed, dict):
            return error_response(502, "ModelServerError", "the model server could not list")
        answer = {
            "models": [
                {"modelName": item["modelName"], "modelUrl": self.url_of(item.get("modelUrl", ""))}
                for item in listed.get("models", [])
            ]
        }
        if listed.get("nextPageToken"):
            answer["nextPageToken"] = str(listed["nextPageToken"])
        return web.json_response(answer)

    async def describe(self, request):
        name = request.match_info["name"]
        status, described = await self.management.get_json(
            f"/models/{name}", MANAGEMENT_TIMEOUT_SECONDS
        )
        if status == 404:
            return not_loaded(name)
        models = described if isinstance(described, list) else [described]
        if status != 200 or not models or not isinstance(models[0], dict):
            return error_response(502, "ModelServerError", "the model server could not describe")
        return web.json_response(
            {"modelName": name, "modelUrl": self.url_of(models[0].get("modelUrl", ""))}
        )

    async def unload(self, request):
        name = request.match_info["name"]
        status, answer = await self.management.call(
            "DELETE", f"/models/{name}", LOAD_TIMEOUT_SECONDS
        )
        if status == 404:
            return not_loaded(name)
        if status != 200:
            return error_response(502, "ModelServerError", f"could not unload {name}: {answer}")
        self.costs.pop(name, None)
        logger.info("unloaded model %s", name)
        return web.json_response({"status": f"model {name} unloaded"})

    # -- what a load must pass ----------------------------------------------------------------
    async def requested_load(self, request):
        """(name, directory) of a load request; ``Refusal`` for anything else."""
        try:
            document = await request.json()
        except ValueError:
            raise Refusal(400, "ValidationError", "the body is not JSON") from None
        if not isinstance(document, dict):
            raise Refusal(400, "ValidationError", 'expected {"model_name": ..., "url": ...}')
        name, url = document.get("model_name"), document.get("url")
        if not isinstance(name, str) or not MODEL_NAME.fullmatch(name):
            raise Refusal(
                400, "ValidationError", "model_name is 1 to 128 letters, digits, '.', '_', '-'"
            )
        if not isinstance(url, str) or not url:
            raise Refusal(400, "ValidationError", "url names the model's directory")
        directory = os.path.realpath(url)
        if os.path.commonpath([directory, self.models_dir]) != self.models_dir:
            raise Refusal(403, "ModelOutsideRoot", f"{url} is not under {self.models_dir}")
        if not os.path.isdir(directory):
            raise Refusal(404, "ModelNotFound", f"{url} is not a directory")
        return name, directory

    @staticmethod
    def check_model(directory):
        """The model's metadata, once every file of it has been read; ``Refusal`` if not."""
        from inference import model

        try:
            return model.check_model(directory)
        except (OSError, ValueError) as error:
            raise Refusal(400, "InvalidModel", f"{directory} is not a model: {error}") from None

    def check_memory(self, name, cost):
        used = sum(self.costs.values())
        if used + cost > self.memory_budget_bytes:
            raise Refusal(
                507,
                "InsufficientMemory",
                f"model {name} needs about {cost >> 20} MiB and {used >> 20} of the "
                f"{self.memory_budget_bytes >> 20} MiB budget are taken: unload a model",
            )

    async def register(self, name, directory):
        """MMS loads the model (its workers started and warmed) before answering."""
        params = {
            "url": os.path.relpath(directory, self.models_dir),  # MMS resolves it in its store
            "model_name": name,
            "initial_workers": str(self.workers_per_model),
            "synchronous": "true",
        }
        try:
            status, answer = await self.management.call(
                "POST", "/models", LOAD_TIMEOUT_SECONDS, params
            )
        except TimeoutError:
            raise Refusal(504, "ModelLoadTimeout", f"model {name} did not load in time") from None
        if status == 409:
            raise Refusal(409, "ModelAlreadyLoaded", f"model {name} is loaded already")
        if status == 507:
            raise Refusal(507, "InsufficientMemory", f"model {name} does not fit in memory")
        if status != 200:
            message = answer.get("message") if isinstance(answer, dict) else answer
            raise Refusal(500, "ModelLoadFailed", f"model {name} did not load: {message}")

    def url_of(self, relative):
        return os.path.join(self.models_dir, relative)


def not_loaded(name):
    return error_response(404, "ModelNotFound", f"model {name} is not loaded")
