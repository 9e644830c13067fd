"""The one way the command line reports progress: timed steps on stderr."""

import contextlib
import datetime
import json
import sys
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any

from scripts.lib.errors import CommandError


class Output:
    """How lines are written: as they are, or as JSON documents like the server's log lines
    (``sm-detect serve`` with ``SM_DETECT_LOG_FORMAT=json``, whose output is read line by line
    as JSON)."""

    json_lines = False


def report_as_json_lines() -> None:
    Output.json_lines = True


def say(message: str) -> None:
    if Output.json_lines:
        message = json.dumps(
            {
                "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
                "level": "INFO",
                "logger": "sm-detect",
                "message": message.strip(),
            }
        )
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def step(message: str) -> Iterator[None]:
    """``==> message`` ... ``done in 1.2 s`` around a block of work."""
    say(f"==> {message}")
    started = time.perf_counter()
    yield
    say(f"    done in {time.perf_counter() - started:.1f} s")


def wait_until_settled(
    label: str,
    describe: Callable[[], dict[str, Any] | None],
    status_key: str,
    wanted: str,
    settled: Collection[str],
    poll_seconds: float,
    timeout_seconds: float,
) -> dict[str, Any]:
    """Poll ``describe()`` (an AWS description) until its ``status_key`` is in ``settled``.

    Each change is printed; anything but ``wanted`` (or no answer in time) ends in one line
    with AWS's FailureReason.
    """
    described: dict[str, Any] = {}

    def read_status() -> str:
        described.clear()
        described.update(describe() or {})
        return described.get(status_key, "Missing")

    try:
        status = watch(label, read_status, settled, poll_seconds, timeout_seconds)
    except TimeoutError as error:
        raise CommandError(str(error)) from None
    if status != wanted:
        reason = described.get("FailureReason", "no reason given")
        raise CommandError(f"{label} is {status}: {reason}")
    return described


def watch(
    label: str,
    read_status: Callable[[], str],
    settled: Collection[str],
    poll_seconds: float,
    timeout_seconds: float,
) -> str:
    """Poll ``read_status()`` until it returns a status in ``settled``, printing each change."""
    started, last = time.monotonic(), ""
    while True:
        status = read_status()
        elapsed = time.monotonic() - started
        if status != last:
            say(f"    {label}: {status} ({elapsed:.0f} s)")
            last = status
        if status in settled:
            return status
        if elapsed > timeout_seconds:
            raise TimeoutError(f"{label} still {status} after {elapsed:.0f} s")
        time.sleep(poll_seconds)
