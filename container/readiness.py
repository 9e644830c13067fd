"""Readiness markers: how the front door knows a worker has really loaded the model.

MMS's management API reports a worker READY even while its model load fails and the process is
restarted again and again (seen with corrupted weights), so its word is not enough. Each worker
writes a marker after ``model_fn`` returns: its pid and start time, in a directory private to
this server. A marker counts while that very process (same pid, same start time) is alive.
"""

import contextlib
import os

import psutil

READY_DIR_ENV = "SM_DETECT_READY_DIR"


def mark_ready(directory):
    process = psutil.Process()
    path = os.path.join(directory, str(process.pid))
    with open(path + ".partial", "w", encoding="ascii") as file:
        file.write(repr(process.create_time()))
    os.replace(path + ".partial", path)


def live_workers(directory):
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
