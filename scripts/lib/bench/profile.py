"""Where a forward pass's time goes inside oneDNN: its own log (``DNNL_VERBOSE=1``) summed per
primitive and implementation, over a few forward passes after warm-up.

oneDNN reads its variables when it first runs, so the passes run in a child process
(``python -m scripts.lib.bench.profile MODEL_DIR RUNS HEIGHT WIDTH``), which marks where warm-up
ends; the parent reads its log from there. Each execution line ends with its time in ms.
"""

import collections
import ctypes
import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable, Mapping

MEASURED = "sm-detect-profile: measured passes follow"
EXECUTION = "dnnl_verbose,exec,cpu,"
ISA_LINE = "dnnl_verbose,info,cpu,isa:"


@dataclasses.dataclass
class Profile:
    isa: str  # oneDNN's own words for the ISA it uses
    runs: int
    milliseconds: dict[tuple[str, str], float]  # (primitive, implementation) -> ms, all runs
    calls: dict[tuple[str, str], int]  # (primitive, implementation) -> calls, all runs

    @property
    def total_ms(self) -> float:
        return sum(self.milliseconds.values())

    def share(self, predicate: Callable[[tuple[str, str]], bool]) -> float:
        """The share of oneDNN's time spent in implementations for which ``predicate`` holds."""
        total = self.total_ms
        return (
            sum(ms for key, ms in self.milliseconds.items() if predicate(key)) / total
            if total
            else 0.0
        )

    @property
    def reference_share(self) -> float:
        """oneDNN's reference (unoptimized) kernels' share: ``ref:*`` implementations."""
        return self.share(lambda key: key[1].startswith("ref"))

    def rows(self) -> list[tuple[str, str, float, float, float]]:
        """(primitive, implementation, ms per forward, calls per forward, share), most first."""
        total = self.total_ms
        return [
            (primitive, implementation, ms / self.runs, self.calls[key] / self.runs, ms / total)
            for key, ms in sorted(self.milliseconds.items(), key=lambda item: -item[1])
            for primitive, implementation in [key]
        ]


def parse(log: str, runs: int) -> Profile:
    """A profile from a child's log: the lines after the marker."""
    isa, measuring = "", False
    milliseconds: dict[tuple[str, str], float] = collections.defaultdict(float)
    calls: collections.Counter[tuple[str, str]] = collections.Counter()
    for line in log.splitlines():
        if line.startswith(ISA_LINE):
            isa = line.removeprefix(ISA_LINE).strip()
        elif line.startswith(MEASURED):
            measuring = True
        elif measuring and line.startswith(EXECUTION):
            fields = line.strip().split(",")
            key = (fields[3], fields[4])
            milliseconds[key] += float(fields[-1])
            calls[key] += 1
    return Profile(isa, runs, dict(milliseconds), dict(calls))


def profile(
    model_dir: str,
    runs: int = 5,
    canvas: tuple[int, int] = (416, 555),
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> Profile:
    """oneDNN's time per primitive and implementation for ``runs`` forward passes of the model
    in ``model_dir`` on a ``canvas`` (height, width) input."""
    child_env = {**(env or os.environ), "DNNL_VERBOSE": "1"}
    ran = subprocess.run(
        [sys.executable, "-m", __name__, str(model_dir), str(runs), *map(str, canvas)],
        capture_output=True,
        text=True,
        env=child_env,
        timeout=timeout,
        check=False,
    )
    if ran.returncode != 0:
        raise RuntimeError(f"profiling {model_dir} failed ({ran.returncode}): {ran.stderr[-2000:]}")
    return parse(ran.stdout, runs)


def run_passes(model_dir: str, runs: int, height: int, width: int) -> None:
    """The child's work: load as the server loads, warm up, mark, run ``runs`` passes."""
    import mxnet as mx

    from inference import model

    detector = model.load_detector(model_dir)
    tensor = mx.nd.random.uniform(shape=(1, 3, height, width), ctx=detector.ctx)
    for _ in range(2):
        [output.asnumpy() for output in detector(tensor)]
    # oneDNN writes through C's buffered stdout: empty it, so that the marker falls in place
    ctypes.CDLL(None).fflush(None)
    print(MEASURED, flush=True)
    for _ in range(runs):
        [output.asnumpy() for output in detector(tensor)]


if __name__ == "__main__":
    run_passes(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
