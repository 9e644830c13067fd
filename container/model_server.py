"""The model server: multi-model-server (MMS), started, watched and stopped by this process.

The SageMaker inference toolkit's ``start_model_server`` starts MMS and then finds "its" server
by scanning every process on the machine for MMS's class name, so a second server on the same
machine confuses the first (stopping one stopped both). It also puts the archive's ``code/``
first on ``PYTHONPATH`` and pip-installs its ``requirements.txt``. Here MMS is this process's
child, known by its pid, and listens on Unix sockets in this run's private directory (mode 0700):
no TCP port to race another server for, and a management API that other users cannot reach.
MMS loads models from this run's store (``container.model_store``), never from a model's own
folder, and the archive's code is loaded only when the settings say it is trusted.

MMS has one time limit per model, for its load and for each request alike: a worker still
warming when it passes is given up on and another started, while the first is not stopped (seen
under CPU contention: retries piling up, the server never ready). So MMS's limit here is the
load bound (``SM_DETECT_LOAD_TIMEOUT``), and a request's own limit is kept by the front door.
"""

import asyncio
import contextlib
import logging
import os
import signal
import string
import sys
import xml.sax.saxutils
from collections.abc import Mapping

import psutil

from container import model_server_log
from container.model_store import ModelStore
from container.settings import Settings
from inference.model_files import CODE_DIR, unexpected_entries

MODEL_NAME = "model"  # the name the front door calls the model by
MANAGEMENT_SOCKET = "management.sock"  # the longest name in the run directory
HANDLER = "container.handler_service:handle"
LOG_CONFIG_TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "log4j2.xml")
ONEDNN_CACHE_ENTRIES = 4
# MMS reads these from the environment over its configuration file; the addresses are ours
RESERVED_VARIABLES = ("MMS_INFERENCE_ADDRESS", "MMS_MANAGEMENT_ADDRESS", "MMS_CONFIG_FILE")
STOP_GRACE_SECONDS = 8
RELAY_GRACE_SECONDS = 2
# log4j's level for MMS's own lines at each SM_DETECT_LOG_LEVEL: what it says at INFO (its
# banner, models registered) is detail beside the front door's one line per step
MMS_LEVELS = {"DEBUG": "info", "INFO": "warn", "WARNING": "warn", "ERROR": "error"}

logger = logging.getLogger("sm-detect.serve")


class ServeError(Exception):
    """Serving cannot start: one line for the operator."""


class ModelServer:
    """MMS for the model in ``settings.model_dir``; its files live in ``run_dir``."""

    def __init__(
        self, settings: Settings, run_dir: str, ready_dir: str, environ: Mapping[str, str]
    ) -> None:
        self.settings = settings
        self.run_dir = run_dir
        self.ready_dir = ready_dir
        self.environ = environ
        self.inference_socket = os.path.join(run_dir, "inference.sock")
        self.management_socket = os.path.join(run_dir, MANAGEMENT_SOCKET)
        self.store = ModelStore(os.path.join(run_dir, "store"))
        self.config_file = os.path.join(run_dir, "mms.properties")
        self.log_config_file = os.path.join(run_dir, "log4j2.xml")
        self.process: asyncio.subprocess.Process | None = None
        self.relaying: asyncio.Future | None = None

    def configuration(self) -> str:
        """MMS's configuration file: its unit for timeouts is minutes, with a _seconds key."""
        settings = self.settings
        minutes = -(-settings.load_timeout_seconds // 60)
        properties = {
            "inference_address": f"unix:{self.inference_socket}",
            "management_address": f"unix:{self.management_socket}",
            "use_native_io": "true",
            "enable_envvars_config": "true",
            "decode_input_request": "false",
            # the one model at start; a multi-model endpoint starts with none
            **({} if settings.multi_model else {"load_models": "ALL"}),
            "default_service_handler": HANDLER,
            "default_workers_per_model": settings.workers,
            # a load and a request alike: the load's bound (the front door keeps a request's)
            "default_response_timeout": minutes,
            "default_response_timeout_seconds": settings.load_timeout_seconds,
            # the front door refuses larger bodies; MMS must not refuse smaller ones
            "max_request_size": settings.max_payload_bytes + (1 << 20),
            "max_response_size": max(settings.max_payload_bytes, 6 << 20) * 4,
        }
        return "".join(f"{key}={value}\n" for key, value in properties.items())

    def log_configuration(self) -> str:
        """MMS's log4j2 file: lines the front door relays; below warnings only when debugging."""
        level = self.settings.log_level
        with open(LOG_CONFIG_TEMPLATE, encoding="utf-8") as file:
            template = string.Template(file.read())
        return template.substitute(
            pattern=xml.sax.saxutils.quoteattr(model_server_log.LOG_PATTERN)[1:-1],
            per_request="info" if level == "DEBUG" else "warn",
            server=MMS_LEVELS[level],
        )

    def environment(self) -> dict[str, str]:
        """The environment MMS and its workers start with."""
        env = {k: v for k, v in self.environ.items() if k not in RESERVED_VARIABLES}
        # MXNet keeps every oneDNN primitive it makes, for every input shape, for ever (about
        # 7 MiB a shape in FP32, 90 in INT8); a few per kind of operator cost no measured speed
        # (docs/PERFORMANCE.md) and bound the workers' memory whatever shapes arrive
        env.setdefault("MXNET_MKLDNN_CACHE_NUM", str(ONEDNN_CACHE_ENTRIES))
        env.update(
            {
                "OMP_NUM_THREADS": str(self.settings.threads_per_worker),
                # MMS's pid file (Python's temp dir) and worker sockets (Java's) stay private
                "TMPDIR": self.run_dir,
                "TEMP": self.run_dir,
                "SM_DETECT_READY_DIR": self.ready_dir,
                "SAGEMAKER_BASE_DIR": self.settings.base_dir,
            }
        )
        code_dir = os.path.join(self.settings.model_dir, CODE_DIR)
        if self.settings.trusts_archive_code:
            env["PYTHONPATH"] = os.pathsep.join(
                part for part in (code_dir, env.get("PYTHONPATH")) if part
            )
        else:
            env["PYTHONPATH"] = os.pathsep.join(
                part
                for part in (env.get("PYTHONPATH") or "").split(os.pathsep)
                if part and os.path.abspath(part) != os.path.abspath(code_dir)
            )
            if not env["PYTHONPATH"]:
                del env["PYTHONPATH"]
        return env

    def command(self) -> list[str]:
        # the launcher of this very environment, so `serve` works without an activated venv
        launcher = os.path.join(os.path.dirname(sys.executable), "multi-model-server")
        return [
            launcher if os.path.exists(launcher) else "multi-model-server",
            "--start",
            "--foreground",
            "--mms-config",
            self.config_file,
            "--log-config",
            self.log_config_file,
            *self.models(),
        ]

    def models(self) -> list[str]:
        """The model store and the model to load at start; a multi-model endpoint loads none:
        the front door registers each when SageMaker asks (``container.multi_model``)."""
        if self.settings.multi_model:
            return ["--model-store", self.store.root]
        ignored = unexpected_entries(self.settings.model_dir)
        if ignored:
            logger.warning(
                "the model folder holds what is not a model's, which the model server never "
                "sees: %s",
                ", ".join(ignored[:10]),
            )
        # MMS finds a model by its path relative to the store
        staged = self.store.stage(MODEL_NAME, self.settings.model_dir)
        return ["--model-store", self.store.root, "--models", f"{MODEL_NAME}={staged}"]

    async def start(self) -> None:
        with open(self.config_file, "w", encoding="utf-8") as file:
            file.write(self.configuration())
        with open(self.log_config_file, "w", encoding="utf-8") as file:
            file.write(self.log_configuration())
        if self.settings.trusts_archive_code:
            await install_archive_requirements(self.settings.model_dir, self.environment())
        self.process = await asyncio.create_subprocess_exec(
            *self.command(),
            env=self.environment(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=model_server_log.LINE_LIMIT,
        )
        self.relaying = asyncio.ensure_future(model_server_log.relay_process(self.process))
        logger.info("model server started (pid %d)", self.process.pid)

    async def wait(self) -> int:
        assert self.process is not None, "started first"
        code = await self.process.wait()
        await self.finish_relaying()
        return code

    async def finish_relaying(self, seconds: float = RELAY_GRACE_SECONDS) -> None:
        """Relay what MMS printed last; a leftover child holding its pipes open is not waited
        for longer than ``seconds``."""
        if self.relaying is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.relaying, seconds)

    def frontend(self) -> psutil.Process | None:
        """MMS's Java frontend: the launcher's child, named in this run's pid file."""
        with contextlib.suppress(OSError, ValueError, psutil.Error):
            with open(os.path.join(self.run_dir, ".model_server.pid"), encoding="ascii") as file:
                pid = int(file.read().strip())
            frontend = psutil.Process(pid)
            if self.process is not None and frontend.ppid() == self.process.pid:
                return frontend
        return None

    async def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM to MMS's frontend (the launcher exits with it), SIGKILL after the grace."""
        if self.process is None or self.process.returncode is not None:
            return
        frontend = self.frontend()
        target = frontend.pid if frontend else self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), grace_seconds)
        except TimeoutError:
            for pid in (target, self.process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            await self.process.wait()
        await self.finish_relaying()

    def forget_workers(self) -> None:
        """Remove what a stopped model server leaves behind, so that another can start.

        Its readiness markers, its pid file, and its sockets: MMS cannot bind a socket path that
        exists, and a new worker thread connects to a stale worker socket and fails for good.
        """
        leftovers = [os.path.join(self.ready_dir, name) for name in os.listdir(self.ready_dir)]
        leftovers += [self.inference_socket, self.management_socket]
        leftovers += [
            os.path.join(self.run_dir, name)
            for name in os.listdir(self.run_dir)
            if name.startswith(".mms.sock.") or name == ".model_server.pid"
        ]
        for path in leftovers:
            with contextlib.suppress(OSError):
                os.remove(path)

    def stop_leftover_workers(self, grace_seconds: float = 5) -> None:
        """End MMS worker processes that outlived the frontend.

        MMS 1.1's worker launcher survives the Java frontend's shutdown, re-parented to init;
        its command line names this run's private socket directory, which identifies it.
        """
        leftovers = []
        for process in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                if process.pid != os.getpid() and any(
                    self.run_dir in part for part in process.info["cmdline"] or ()
                ):
                    leftovers.append(process)
        for process in leftovers:
            with contextlib.suppress(psutil.Error):
                process.terminate()
        _, alive = psutil.wait_procs(leftovers, timeout=grace_seconds)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()


async def install_archive_requirements(model_dir: str, env: Mapping[str, str]) -> None:
    """What the toolkit does for a trusted archive: pip-install ``code/requirements.txt``."""
    requirements = os.path.join(model_dir, "code", "requirements.txt")
    if not os.path.isfile(requirements):
        return
    logger.info("installing the archive's code/requirements.txt (SM_DETECT_ARCHIVE_CODE=trust)")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pip", "install", "--quiet", "-r", requirements, env=env
    )
    if await process.wait() != 0:
        raise ServeError(f"pip could not install the archive's {requirements}")
