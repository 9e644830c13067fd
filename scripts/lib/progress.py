"""The one way the command line reports progress: timed steps on stderr."""

import contextlib
import sys
import time


def say(message):
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def step(message):
    """``==> message`` ... ``done in 1.2 s`` around a block of work."""
    say(f"==> {message}")
    started = time.perf_counter()
    yield
    say(f"    done in {time.perf_counter() - started:.1f} s")


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
