"""The ``serve`` entrypoint: what SageMaker runs as ``docker run IMAGE serve``.

It reads the settings (``container.settings``), checks the model before starting anything, then
runs two things until SIGTERM: the front door on SageMaker's port, and multi-model-server behind
it on Unix sockets in a private directory (``container.model_server``). SIGTERM drains the front
door (requests in flight are answered) and then stops the model server, within SageMaker's 30 s.
Everything this run made (its private directory, leftover workers) is gone when it returns.
"""

import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Mapping
from typing import Any

from container.door import guard, listening, logs
from container.door.prometheus import Prometheus
from container.door.responses import error_response
from container.frontdoor import FrontDoor
from container.metrics import Metrics
from container.model_server import MANAGEMENT_SOCKET, MODEL_NAME, ModelServer, ServeError
from container.multi_model import Models
from container.settings import JSON, WORKERS, ConfigurationError, Settings
from inference import cpu, preprocess
from inference.metadata import ModelMetadata
from inference.settings import check_against_model

DRAIN_SECONDS = 20  # of SageMaker's 30 s between SIGTERM and SIGKILL
SOCKET_PATH_MAX_BYTES = 107  # sun_path holds 108 bytes, the last one a NUL

logger = logging.getLogger("sm-detect.serve")


def check_model_dir(model_dir: str, settings: Settings) -> ModelMetadata:
    """Fail before starting anything when the model cannot be served as configured; returns
    the model's metadata."""
    from inference import model

    try:
        metadata = model.check_model(model_dir)
    except (OSError, ValueError) as error:
        raise ServeError(f"cannot serve {model_dir}: {error}") from None
    check_against_model(settings.requests, metadata.classes, metadata.post_nms)
    return metadata


def main(argv: list[str] | None = None) -> None:
    """The image's entrypoint: serve the model under SAGEMAKER_BASE_DIR (default /opt/ml)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] != "serve":
        raise SystemExit(f"usage: serve (got {' '.join(argv)})")
    sys.exit(run(os.environ))


def run(environ: Mapping[str, str]) -> int:
    """Serve with the settings in ``environ`` until SIGTERM or SIGINT; returns the exit code."""
    try:
        settings = Settings.from_environ(environ)
        logs.configure(as_json=settings.log_format == JSON, level=settings.log_level)
        metrics = Metrics(
            settings.metrics_namespace,
            settings.endpoint_name,
            settings.variant_name,
            enabled=settings.metrics,
        )
        metadata = None
        if settings.multi_model:
            if not os.path.isdir(settings.models_dir):
                raise ServeError(f"the models root {settings.models_dir} is not a directory")
            # one worker per model unless set: the models share the machine
            settings = dataclasses.replace(settings, workers=int(environ.get(WORKERS) or 1))
        else:
            metadata = check_model_dir(settings.model_dir, settings)
            # the workers memory holds depend on the model's precision
            settings = Settings.from_environ(environ, precision=metadata.precision)
        return asyncio.run(serve(settings, environ, metrics, metadata))
    except (ConfigurationError, ServeError) as error:
        print(f"sm-detect serve: {error}", file=sys.stderr)
        return 1


def run_directory(parent: str) -> str:
    """This run's private directory (mode 0700), where the model server's sockets go.

    A Unix socket's path has at most 107 bytes: under a deep ``TMPDIR`` (a macOS one, a test
    runner's) MMS would bind its sockets and nobody could connect to them. Then /tmp is used.
    """
    longest = os.path.join(parent, "sm-detect-" + "x" * 8, MANAGEMENT_SOCKET)
    if len(os.fsencode(longest)) > SOCKET_PATH_MAX_BYTES:
        logger.info("TMPDIR %s is too deep for Unix socket paths: using /tmp", parent)
        parent = "/tmp"
    return tempfile.mkdtemp(prefix="sm-detect-", dir=parent)


def served(
    metadata: ModelMetadata, settings: Settings, environ: Mapping[str, str]
) -> dict[str, Any]:
    """What ``/info`` and the info metric say is served: the model, its precision and classes,
    the oneDNN ISA its workers use, and the canvases the default mode gives the network."""
    mode = settings.requests.defaults.mode
    canvases = preprocess.canvas_shapes(mode, metadata.short, metadata.max_size, metadata.buckets)
    flags = cpu.cpu_flags()
    amx_granted = cpu.best_isa(flags) == cpu.AMX and cpu.request_tile_state()
    return {
        "model": metadata.name,
        "precision": metadata.precision,
        "classes": list(metadata.classes),
        "isa": cpu.effective_isa(flags, environ.get(cpu.ISA_VARIABLE), amx_granted),
        "mode": mode,
        "canvases": [f"{width}x{height}" for height, width in canvases],
    }


async def serve(
    settings: Settings,
    environ: Mapping[str, str],
    metrics: Metrics,
    metadata: ModelMetadata | None = None,
) -> int:
    run_dir = run_directory(environ.get("TMPDIR") or tempfile.gettempdir())
    ready_dir = os.path.join(run_dir, "ready")
    os.makedirs(ready_dir)
    model_server = ModelServer(settings, run_dir, ready_dir, environ)
    facts = served(metadata, settings, environ) if metadata else None
    scraped = None
    if settings.prometheus:
        scraped = Prometheus(ready_dir)
        if facts:
            scraped.describe(
                model=facts["model"],
                precision=facts["precision"],
                isa=facts["isa"],
                classes=len(facts["classes"]),
            )
    front_door = FrontDoor(
        inference_socket=model_server.inference_socket,
        management_socket=model_server.management_socket,
        model_name=MODEL_NAME,
        max_payload_bytes=settings.max_payload_bytes,
        timeout_seconds=settings.timeout_seconds,
        workers=settings.workers,
        ready_dir=ready_dir,
        metrics=metrics,
        models=Models(
            model_server.store,
            settings.models_dir,
            settings.models_memory_bytes,
            settings.load_timeout_seconds,
        )
        if settings.multi_model
        else None,
        prometheus=scraped,
        served=facts,
    )
    if scraped:
        scraped.watch(front_door)
    runner = guard.runner(front_door.application(), front_door.limits)
    await runner.setup()
    try:
        try:
            url = await listening.listen(
                runner, settings.host, settings.port, front_door.limits, error_response
            )
        except OSError as error:
            raise ServeError(
                f"cannot listen on {settings.host}:{settings.port}: {error.strerror}"
            ) from None
        logger.info(
            "%s; loading the model into %d worker(s) x %d thread(s)",
            listening.BOUND.format(url=url),
            settings.workers,
            settings.threads_per_worker,
        )
        announcing = asyncio.ensure_future(announce_when_ready(front_door, url))
        try:
            return await supervise(model_server, front_door, settings.restart_after_seconds)
        finally:
            announcing.cancel()
    finally:
        await runner.cleanup()
        model_server.stop_leftover_workers()
        shutil.rmtree(run_dir, ignore_errors=True)
        logger.info("stopped")


async def supervise(
    model_server: ModelServer, front_door: FrontDoor, restart_after_seconds: float
) -> int:
    """Run the model server until a stop signal comes; returns the exit code.

    A model server that exits on its own ends the run (exit 1). One that served and then has had
    no usable worker for ``restart_after_seconds`` is restarted: MMS can leave a worker it failed
    to restart in a state it never leaves ("Failed to connect to worker", while it still lists
    the worker READY), and an endpoint that answers 503 for ever helps nobody.
    """
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, stop_requested.set)
    stopping = asyncio.ensure_future(stop_requested.wait())
    try:
        while True:
            await model_server.start()
            exited = asyncio.ensure_future(model_server.wait())
            stuck = asyncio.ensure_future(stays_unready(front_door, restart_after_seconds))
            await asyncio.wait({exited, stopping, stuck}, return_when=asyncio.FIRST_COMPLETED)
            stuck.cancel()
            if stopping.done():
                # SageMaker's SIGTERM: answer what is in flight, then stop the model server
                left = await front_door.drain(DRAIN_SECONDS)
                logger.info("stop signal: %d request(s) still in flight after draining", left)
                await model_server.stop()
                return 0
            if exited.done():
                logger.error("the model server exited on its own (code %s)", exited.result())
                return 1
            logger.error(
                "no worker has answered for %d s after the model had loaded: restarting the "
                "model server",
                restart_after_seconds,
            )
            await model_server.stop()
            model_server.stop_leftover_workers()
            model_server.forget_workers()
            front_door.has_been_ready = False
    finally:
        stopping.cancel()
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError):
                loop.remove_signal_handler(stop_signal)


async def announce_when_ready(front_door: FrontDoor, url: str, interval: float = 0.2) -> None:
    """Say ``listening on URL`` once ``/ping`` answers 200: a request sent then is answered."""
    started = time.monotonic()
    while not await front_door.ready():
        await asyncio.sleep(interval)
    logger.info(
        "%s (ready in %.1f s)", listening.ANNOUNCEMENT.format(url=url), time.monotonic() - started
    )


async def stays_unready(front_door: FrontDoor, seconds: float, interval: float = 1.0) -> None:
    """Returns once the door has been ready and then stayed unready for ``seconds``."""
    unready_since = None
    while True:
        await asyncio.sleep(interval)
        if await front_door.ready():
            unready_since = None
        elif front_door.has_been_ready:
            unready_since = unready_since or time.monotonic()
            if time.monotonic() - unready_since >= seconds:
                return


if __name__ == "__main__":
    main()
