"""The ``serve`` entrypoint: what SageMaker runs as ``docker run IMAGE serve``.

It settles the environment the SageMaker inference toolkit hands to multi-model-server (workers
sized for this machine, timeouts in the unit MMS really reads, a private temp dir so a stale pid
file or another server's sockets cannot interfere), starts the front door on SageMaker's port, and
starts MMS through ``sagemaker_inference.model_server`` on a private loopback port behind it.
It returns when MMS exits; SIGTERM stops MMS (the toolkit forwards it) and then the front door.
"""

import contextlib
import logging
import math
import os
import signal
import socket
import sys
import tempfile

from container import readiness

MODEL_NAME = "model"  # the name the toolkit registers the model under
HANDLER = "container.handler_service:handle"
DEFAULT_PORT = 8080
DEFAULT_TIMEOUT_SECONDS = 60
DEFAULT_MAX_PAYLOAD_MB = 6
DRAIN_SECONDS = 20  # of SageMaker's 30 s between SIGTERM and SIGKILL
WORKER_MEMORY_BYTES = 5 << 28  # one YOLOv3 worker peaks at about 1.2 GiB
LATENCY, THROUGHPUT = "latency", "throughput"

logger = logging.getLogger("sm-detect.serve")


def default_workers(cpus=None, memory_bytes=None, tuning=LATENCY):
    """Workers for ``tuning``, as many as memory allows, at least one.

    ``latency``: one worker per two cores, each forward pass on two OpenMP threads, so a lone
    request is answered soonest. ``throughput``: one single-threaded worker per core, which
    keeps every core busy with the least synchronisation and answers the most requests per
    second under load (docs/PERFORMANCE.md has both curves). MMS's own default, one worker per
    core each with a pool of every core's threads, oversubscribes the cores.
    """
    cpus = cpus or os.cpu_count() or 1
    memory_bytes = memory_bytes or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    wanted = cpus if tuning == THROUGHPUT else cpus // 2
    return max(1, min(wanted, memory_bytes // WORKER_MEMORY_BYTES))


def tuning_from(environ):
    """``SM_DETECT_TUNING``: ``latency`` (default) or ``throughput``."""
    tuning = environ.get("SM_DETECT_TUNING") or LATENCY
    if tuning not in (LATENCY, THROUGHPUT):
        raise SystemExit(
            f"sm-detect serve: SM_DETECT_TUNING must be {LATENCY} or {THROUGHPUT}, got {tuning!r}"
        )
    return tuning


def free_port(host="127.0.0.1", start=20000, end=32000):
    """A free TCP port below 32767 (MMS refuses higher ones; port 0 lands above it)."""
    for port in range(start + os.getpid() % 1000, end):
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {start} and {end}")


def model_server_port(environ):
    """Inside SAGEMAKER_SAFE_PORT_RANGE when SageMaker gives one, else any free low port."""
    safe_range = environ.get("SAGEMAKER_SAFE_PORT_RANGE")
    if safe_range:
        low, high = (int(part) for part in safe_range.replace("-", " ").split())
        return free_port(start=low, end=high + 1)
    return free_port()


def configure(environ, base_dir):
    """Set the environment MMS and the workers start with; returns the front door's settings."""
    workers = int(
        environ.get("SAGEMAKER_MODEL_SERVER_WORKERS")
        or default_workers(tuning=tuning_from(environ))
    )
    cpus = os.cpu_count() or 1
    timeout = int(environ.get("SAGEMAKER_MODEL_SERVER_TIMEOUT") or DEFAULT_TIMEOUT_SECONDS)
    public_port = int(environ.get("SAGEMAKER_BIND_TO_PORT") or DEFAULT_PORT)
    internal_port = model_server_port(environ)
    run_dir = tempfile.mkdtemp(prefix="sm-detect-", dir=environ.get("TMPDIR") or None)
    environ.update(
        {
            "SAGEMAKER_BASE_DIR": base_dir,
            "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
            "OMP_NUM_THREADS": environ.get("OMP_NUM_THREADS") or str(max(1, cpus // workers)),
            # SageMaker's value is seconds; MMS reads this key in minutes, the _SECONDS key exactly
            "SAGEMAKER_MODEL_SERVER_TIMEOUT": str(math.ceil(timeout / 60)),
            "SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS": str(timeout),
            "SAGEMAKER_BIND_TO_PORT": str(internal_port),
            "MMS_INFERENCE_ADDRESS": f"http://127.0.0.1:{internal_port}",
            "MMS_MANAGEMENT_ADDRESS": f"http://127.0.0.1:{internal_port}",
            # the pid file (Python's temp dir) and worker sockets (Java's) stay private to this run
            "TMPDIR": run_dir,
            "TEMP": run_dir,
            "LOG_LOCATION": os.path.join(run_dir, "logs"),
            "METRICS_LOCATION": os.path.join(run_dir, "logs"),
            readiness.READY_DIR_ENV: os.path.join(run_dir, "ready"),
        }
    )
    os.makedirs(environ[readiness.READY_DIR_ENV])
    max_payload_mb = int(environ.get("SAGEMAKER_MAX_PAYLOAD_IN_MB") or DEFAULT_MAX_PAYLOAD_MB)
    environ.setdefault("SAGEMAKER_MAX_PAYLOAD_IN_MB", str(max_payload_mb))
    return {
        "public_port": public_port,
        "internal_port": internal_port,
        "run_dir": run_dir,
        "workers": workers,
        "timeout": timeout,
        "max_payload_bytes": max_payload_mb * 1024 * 1024,
    }


def check_model_dir(model_dir):
    """Fail before starting anything when the model directory cannot be served."""
    from inference import handler, model
    from inference.errors import RequestError

    try:
        handler.endpoint_settings()  # the SM_DETECT_* defaults
        model.check_model(model_dir)
    except RequestError as error:
        raise SystemExit(f"sm-detect serve: bad endpoint setting: {error.message}") from None
    except (OSError, ValueError) as error:
        raise SystemExit(f"sm-detect serve: cannot serve {model_dir}: {error}") from None


def main(argv=None):
    """Serve the model under SAGEMAKER_BASE_DIR (default /opt/ml) until MMS exits."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] != "serve":
        raise SystemExit(f"usage: serve (got {' '.join(argv)})")
    environ = os.environ
    base_dir = environ.get("SAGEMAKER_BASE_DIR") or "/opt/ml"
    check_model_dir(os.path.join(base_dir, "model"))
    settings = configure(environ, base_dir)

    # imported only now: the toolkit reads SAGEMAKER_BASE_DIR when first imported
    from sagemaker_inference import model_server

    from container.frontdoor import FrontDoor, FrontDoorThread

    model_server.MMS_CONFIG_FILE = os.path.join(settings["run_dir"], "mms.properties")
    front_door = FrontDoorThread(
        FrontDoor(
            upstream=f"http://127.0.0.1:{settings['internal_port']}",
            model_name=MODEL_NAME,
            max_payload_bytes=settings["max_payload_bytes"],
            timeout_seconds=settings["timeout"],
            workers=settings["workers"],
            ready_dir=environ[readiness.READY_DIR_ENV],
        ),
        host=environ.get("SM_DETECT_HOST", "0.0.0.0"),
        port=settings["public_port"],
    )
    front_door.start()
    logger.info(
        "front door on port %d, model server on 127.0.0.1:%d, %d worker(s) x %s threads",
        settings["public_port"],
        settings["internal_port"],
        settings["workers"],
        environ["OMP_NUM_THREADS"],
    )
    # The toolkit's SIGTERM handler stops MMS at once, cutting requests in flight; ours lets
    # the front door finish them first, within SageMaker's 30 s.
    model_server._add_sigterm_handler = drain_then_stop(front_door)
    try:
        model_server.start_model_server(handler_service=HANDLER)
    finally:
        front_door.stop()
        stop_leftover_workers(settings["run_dir"])
        logger.info("stopped")


def drain_then_stop(front_door, drain_seconds=DRAIN_SECONDS):
    """A SIGTERM handler installer for the toolkit: drain the front door, then stop MMS."""

    def install(mms_process):
        def on_sigterm(_signal, _frame):
            left = front_door.drain(drain_seconds)
            logger.info("SIGTERM: %d request(s) still in flight after draining", left)
            with contextlib.suppress(OSError):
                os.kill(mms_process.pid, signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_sigterm)

    return install


def stop_leftover_workers(run_dir, grace_seconds=5):
    """End MMS worker processes that outlived the frontend.

    MMS 1.1's worker launcher survives the Java frontend's shutdown, re-parented to init; its
    command line names this run's private socket directory, which identifies it.
    """
    import psutil

    leftovers = []
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if process.pid != os.getpid() and any(
                run_dir in part for part in process.info["cmdline"] or ()
            ):
                leftovers.append(process)
    for process in leftovers:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(leftovers, timeout=grace_seconds)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()


if __name__ == "__main__":
    main()
