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
what a caller may load before MMS sees it. A model is data, never code: a folder holding anything
but a model's files (``inference.model_files``) is refused, MMS is given a folder of links to the
data files alone (``container.model_store``) and this project's handler by name, so nothing of
the model's folder is imported. An archive's ``code/`` never runs here: the trust rule
(``SM_DETECT_ARCHIVE_CODE``) is for the one model of a single-model endpoint.

Every route that takes a model's name checks it by the load's rule, on the name as decoded from
the path, before MMS hears of it. Loads are admitted one at a time against the memory budget,
each counted from its admission (a load that fails gives its share back), and what is counted is
corrected by MMS's own list of models whenever another load is admitted.
"""

import asyncio
import dataclasses
import logging
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import ClientError, web

from container.door.responses import Handler, error_response
from container.door.upstream import Upstream
from container.model_server import HANDLER
from container.model_store import ModelStore
from container.settings import WORKER_MEMORY_BYTES
from inference.metadata import ModelMetadata
from inference.model_files import DATA_FILES, METADATA_FILE, unexpected_entries

logger = logging.getLogger("sm-detect.multi-model")
# a route answering a model's request: (request, model name) -> response
Invoke = Callable[[web.Request, str], Awaitable[web.Response]]
NamedRoute = Callable[[web.Request, str], Awaitable[web.StreamResponse]]

MANAGEMENT_TIMEOUT_SECONDS = 10
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
NAME_RULE = "model names are 1 to 128 letters, digits, '.', '_', '-', the first a letter or digit"
MAX_URL_LENGTH = 4096
DEFAULT_PAGE = 100
LISTING_PAGE = 1000  # MMS's own largest page


class Refusal(Exception):
    """A management request refused: its status, code and message, in the project's shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclasses.dataclass(frozen=True)
class Models:
    """A multi-model endpoint's models: MMS's store, the root they are loaded from, the memory
    they may take together, and how long one may take to load."""

    store: ModelStore
    root: str
    memory_budget_bytes: int
    load_timeout_seconds: int


@dataclasses.dataclass
class Admitted:
    """A model admitted against the budget: where it was loaded from, what it may cost, and
    whether MMS has it yet (a load in progress is counted before MMS lists it)."""

    directory: str
    cost: int
    registered: bool = False


class ModelRegistry:
    """Which models are loaded, through MMS's management API; what a load may cost."""

    def __init__(self, management: Upstream, models: Models, workers_per_model: int) -> None:
        self.management = management
        self.store = models.store
        self.models_dir = os.path.realpath(models.root)
        self.memory_budget_bytes = models.memory_budget_bytes
        self.workers_per_model = workers_per_model
        self.load_timeout_seconds = models.load_timeout_seconds
        self.admitted: dict[str, Admitted] = {}
        self.admission = asyncio.Lock()

    def attach(self, app: web.Application, invoke: Invoke) -> None:
        """The contract's routes on ``app``; ``invoke(request, model_name)`` answers invocations."""

        async def invoke_model(request: web.Request, name: str) -> web.Response:
            return await invoke(request, name)

        app.router.add_post("/models", self.load)
        app.router.add_get("/models", self.list_models)
        app.router.add_get("/models/{name}", named(self.describe))
        app.router.add_delete("/models/{name}", named(self.unload))
        app.router.add_post("/models/{name}/invoke", named(invoke_model))

    async def ready(self) -> bool:
        """A multi-model server is ready when MMS answers, with or without models."""
        try:
            status, _ = await self.management.get_json("/models", MANAGEMENT_TIMEOUT_SECONDS)
        except (TimeoutError, ClientError):
            return False
        return status == 200

    # -- the routes ---------------------------------------------------------------------------
    async def load(self, request: web.Request) -> web.Response:
        try:
            name, directory = await self.requested_load(request)
            metadata = await asyncio.to_thread(self.check_model, directory)
            cost = WORKER_MEMORY_BYTES[metadata.precision] * self.workers_per_model
            async with self.admission:
                await self.reconcile()
                if name in self.admitted:
                    raise Refusal(409, "ModelAlreadyLoaded", f"model {name} is loaded already")
                self.check_memory(name, cost)
                self.admitted[name] = Admitted(directory, cost)
            try:
                await self.register(name, directory)
            except BaseException:
                self.admitted.pop(name, None)
                raise
            self.admitted[name].registered = True
        except Refusal as refused:
            return error_response(refused.status, refused.code, refused.message)
        logger.info("loaded model %s from %s (%s)", name, directory, metadata.precision)
        return web.json_response({"status": f"model {name} loaded"})

    async def list_models(self, request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", DEFAULT_PAGE))
            token = int(request.query.get("next_page_token", 0))
        except ValueError:
            return error_response(400, "ValidationError", "limit and next_page_token are numbers")
        if not 1 <= limit <= LISTING_PAGE or token < 0:
            return error_response(400, "ValidationError", "limit is 1 to 1000, the token 0 or more")
        try:
            names, next_token = await self.listed(limit, token)
        except Refusal as refused:
            return error_response(refused.status, refused.code, refused.message)
        answer: dict[str, object] = {
            "models": [{"modelName": name, "modelUrl": self.url_of(name)} for name in names]
        }
        if next_token:
            answer["nextPageToken"] = str(next_token)
        return web.json_response(answer)

    async def describe(self, request: web.Request, name: str) -> web.Response:
        status, _ = await self.management.get_json(f"/models/{name}", MANAGEMENT_TIMEOUT_SECONDS)
        if status == 404:
            return not_loaded(name)
        if status != 200:
            return error_response(502, "ModelServerError", "the model server could not describe")
        return web.json_response({"modelName": name, "modelUrl": self.url_of(name)})

    async def unload(self, request: web.Request, name: str) -> web.Response:
        status, answer = await self.management.call(
            "DELETE", f"/models/{name}", self.load_timeout_seconds
        )
        if status not in (200, 404):
            return error_response(502, "ModelServerError", f"could not unload {name}: {answer}")
        async with self.admission:
            admitted = self.admitted.get(name)
            if admitted is None or admitted.registered:  # not a load still under way
                self.admitted.pop(name, None)
                self.store.remove(name)
        if status == 404:
            return not_loaded(name)
        logger.info("unloaded model %s", name)
        return web.json_response({"status": f"model {name} unloaded"})

    # -- what MMS holds -----------------------------------------------------------------------
    async def listed(self, limit: int, token: int) -> tuple[list[str], Any]:
        """One page of MMS's models: (names, the next page's token or None)."""
        params = {"limit": str(limit), "next_page_token": str(token)}
        status, listed = await self.management.call(
            "GET", "/models", MANAGEMENT_TIMEOUT_SECONDS, params
        )
        if status != 200 or not isinstance(listed, dict):
            raise Refusal(502, "ModelServerError", "the model server could not list its models")
        names = [item.get("modelName") for item in listed.get("models", [])]
        return [name for name in names if isinstance(name, str)], listed.get("nextPageToken")

    async def reconcile(self) -> None:
        """Correct the count by MMS's own list: a model MMS no longer has is no longer counted
        (unloaded behind the door's back, or a restarted model server), and one it has that the
        door does not count is counted (a load the door stopped waiting for)."""
        held: set[str] = set()
        token = 0
        while True:
            names, token = await self.listed(LISTING_PAGE, token)
            held.update(names)
            if not token:
                break
        for name in [n for n, admitted in self.admitted.items() if admitted.registered]:
            if name not in held:
                logger.warning("model %s is no longer in the model server: not counted", name)
                self.admitted.pop(name)
        for name in held - set(self.admitted):
            directory = os.path.dirname(
                os.path.realpath(os.path.join(self.store.root, name, METADATA_FILE))
            )
            precision = self.precision_of(directory)
            logger.warning("model %s is in the model server but was not counted: counted", name)
            self.admitted[name] = Admitted(
                directory,
                WORKER_MEMORY_BYTES[precision] * self.workers_per_model,
                registered=True,
            )

    @staticmethod
    def precision_of(directory: str) -> str:
        """The precision a loaded model's metadata names; the costliest if it cannot be read."""
        from inference import model

        try:
            return model.read_metadata(os.path.join(directory, METADATA_FILE)).precision
        except (OSError, ValueError):
            return max(WORKER_MEMORY_BYTES, key=WORKER_MEMORY_BYTES.__getitem__)

    # -- what a load must pass ----------------------------------------------------------------
    async def requested_load(self, request: web.Request) -> tuple[str, str]:
        """(name, directory) of a load request; ``Refusal`` for anything else."""
        try:
            document = await request.json()
        except (ValueError, RecursionError):
            raise Refusal(400, "ValidationError", "the body is not JSON") from None
        if not isinstance(document, dict):
            raise Refusal(400, "ValidationError", 'expected {"model_name": ..., "url": ...}')
        name, url = check_name(document.get("model_name")), document.get("url")
        if not isinstance(url, str) or not 0 < len(url) <= MAX_URL_LENGTH or "\0" in url:
            raise Refusal(
                400,
                "ValidationError",
                f"url names the model's directory, in 1 to {MAX_URL_LENGTH} characters",
            )
        directory = os.path.realpath(url)
        if os.path.commonpath([directory, self.models_dir]) != self.models_dir:
            raise Refusal(403, "ModelOutsideRoot", f"{url} is not under {self.models_dir}")
        if not os.path.isdir(directory):
            raise Refusal(404, "ModelNotFound", f"{url} is not a directory")
        unexpected = unexpected_entries(directory)
        if unexpected:
            more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
            raise Refusal(
                400,
                "UnexpectedFile",
                f"{url} holds {unexpected[0]}{more}, which is not part of a model: a model "
                f"folder holds {', '.join(DATA_FILES)} and code/, plain files only, no links",
            )
        return name, directory

    @staticmethod
    def check_model(directory: str) -> ModelMetadata:
        """The model's metadata, once every file of it has been read; ``Refusal`` if not."""
        from inference import model

        try:
            return model.check_model(directory)
        except (OSError, ValueError) as error:
            raise Refusal(400, "InvalidModel", f"{directory} is not a model: {error}") from None

    def check_memory(self, name: str, cost: int) -> None:
        used = sum(admitted.cost for admitted in self.admitted.values())
        if used + cost > self.memory_budget_bytes:
            raise Refusal(
                507,
                "InsufficientMemory",
                f"model {name} needs about {cost >> 20} MiB and {used >> 20} of the "
                f"{self.memory_budget_bytes >> 20} MiB budget are taken: unload a model",
            )

    async def register(self, name: str, directory: str) -> None:
        """MMS loads the model (its workers started and warmed) before answering; a load that
        fails is unregistered, so that MMS keeps nothing the door does not count."""
        params = {
            "url": self.store.stage(name, directory),  # MMS resolves it in its store
            "model_name": name,
            "handler": HANDLER,
            "initial_workers": str(self.workers_per_model),
            "synchronous": "true",
            "response_timeout": str(self.load_timeout_seconds),
        }
        try:
            status, answer = await self.management.call(
                "POST", "/models", self.load_timeout_seconds + 30, params
            )
        except (TimeoutError, ClientError) as error:
            await self.forget(name)
            raise Refusal(504, "ModelLoadTimeout", f"model {name} did not load: {error}") from None
        if status == 200:
            return
        if status != 409:
            await self.forget(name)
        if status == 409:
            raise Refusal(409, "ModelAlreadyLoaded", f"model {name} is loaded already")
        if status == 507:
            raise Refusal(507, "InsufficientMemory", f"model {name} does not fit in memory")
        message = answer.get("message") if isinstance(answer, dict) else answer
        raise Refusal(500, "ModelLoadFailed", f"model {name} did not load: {message}")

    async def forget(self, name: str) -> None:
        """Unregister what MMS may hold of a failed load, and its folder in the store."""
        try:
            await self.management.call("DELETE", f"/models/{name}", self.load_timeout_seconds)
        except (TimeoutError, ClientError) as error:
            logger.warning("could not unregister the failed model %s: %s", name, error)
        self.store.remove(name)

    def url_of(self, name: str) -> str:
        admitted = self.admitted.get(name)
        return admitted.directory if admitted else os.path.join(self.models_dir, name)


def check_name(name: object) -> str:
    """``name`` when it is a model's name by the load's rule; ``Refusal`` otherwise."""
    if not isinstance(name, str) or not MODEL_NAME.fullmatch(name):
        raise Refusal(400, "ValidationError", NAME_RULE)
    return name


def named(route: NamedRoute) -> Handler:
    """``route(request, name)`` for a path's ``{name}``, checked by the load's rule as decoded
    (``.%2Fg1`` is ``./g1`` and refused, never handed on for a client library to resolve)."""

    async def checked(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        try:
            check_name(name)
        except Refusal as refused:
            return error_response(refused.status, refused.code, refused.message)
        return await route(request, name)

    return checked


def not_loaded(name: str) -> web.Response:
    return error_response(404, "ModelNotFound", f"model {name} is not loaded")
