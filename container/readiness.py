"""Worker markers: how the front door knows a worker has really loaded the model, and which
worker is answering which request.

MMS's management API reports a worker READY even while its model load fails and the process is
restarted again and again (seen with corrupted weights), so its word is not enough. Each worker
writes a marker after ``model_fn`` returns: its pid and start time, in a directory private to
this server. A marker counts while that very process (same pid, same start time) is alive.

Each worker also names the request it is answering (``PID.request``), so that the front door can
stop the one worker that outlived a request's time limit: MMS's own limit is the model's load
bound, far longer than a request's (``container.model_server``).
"""

import contextlib
import os

import psutil

READY_DIR_ENV = "SM_DETECT_READY_DIR"
ANSWERING_SUFFIX = ".request"


def mark_ready(directory: str) -> None:
    process = psutil.Process()
    path = os.path.join(directory, str(process.pid))
    with open(path + ".partial", "w", encoding="ascii") as file:
        file.write(repr(process.create_time()))
    os.replace(path + ".partial", path)


def live_workers(directory: str) -> list[int]:
    """Pids of worker processes that loaded the model and are still running."""
    live = []
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(directory):
            if not name.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, psutil.Error):
                with open(os.path.join(directory, name), encoding="ascii") as file:
                    started = float(file.read())
                process = psutil.Process(int(name))
                # a killed worker lingers as a zombie until reaped: that is not alive
                if process.create_time() == started and process.status() != psutil.STATUS_ZOMBIE:
                    live.append(int(name))
    return live


def mark_answering(directory: str, inference_id: str) -> None:
    """This worker is answering the request ``inference_id`` (until it names another)."""
    path = os.path.join(directory, f"{os.getpid()}{ANSWERING_SUFFIX}")
    with open(path + ".partial", "w", encoding="utf-8") as file:
        file.write(inference_id)
    os.replace(path + ".partial", path)


def answering(directory: str) -> set[str]:
    """The inference ids the live workers are answering or last answered."""
    named = set()
    for pid in live_workers(directory):
        with (
            contextlib.suppress(OSError),
            open(os.path.join(directory, f"{pid}{ANSWERING_SUFFIX}"), encoding="utf-8") as file,
        ):
            named.add(file.read())
    return named


def worker_answering(directory: str, inference_id: str) -> int | None:
    """The pid of the live worker answering ``inference_id``, or None."""
    for pid in live_workers(directory):
        with (
            contextlib.suppress(OSError),
            open(os.path.join(directory, f"{pid}{ANSWERING_SUFFIX}"), encoding="utf-8") as file,
        ):
            if file.read() == inference_id:
                return pid
    return None
