"""The one way the command line reports progress: timed steps on stderr."""

import contextlib
import sys
import time

from scripts.lib.errors import CommandError


def say(message):
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def step(message):
    """``==> message`` ... ``done in 1.2 s`` around a block of work."""
    say(f"==> {message}")
    started = time.perf_counter()
    yield
    say(f"    done in {time.perf_counter() - started:.1f} s")


def wait_until_settled(label, describe, status_key, wanted, settled, poll_seconds, timeout_seconds):
    """Poll ``describe()`` (an AWS description) until its ``status_key`` is in ``settled``.

    Each change is printed; anything but ``wanted`` (or no answer in time) ends in one line
    with AWS's FailureReason.
    """
    described = {}

    def read_status():
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


def watch(label, read_status, settled, poll_seconds, timeout_seconds):
    """Poll ``read_status()`` until it returns a status in ``settled``, printing each change."""
    started, last = time.monotonic(), None
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
