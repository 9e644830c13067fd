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
