"""Memory under shape-diverse traffic: one photograph as JPEGs of many distinct sizes, sent one
after another to a running server, each worker's resident memory read after every answer.

Real traffic is photos of every crop and proportion; a server whose memory grows with each new
input shape runs out of it. ``stream`` sends ``count`` JPEGs, each of a width and height drawn
between 320 and 1600 pixels (no size twice), checks that every answer is a 200 whose boxes lie
inside the image, and reports the workers' memory as it goes and the latency of each canvas
(``preprocess.canvas_shape``) the images landed on.
"""

import dataclasses
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import requests

from inference import preprocess
from inference.headers import CUSTOM_ATTRIBUTES
from inference.metadata import ModelMetadata
from scripts.lib.bench import images
from scripts.lib.bench.servers import model_server_workers

SMALLEST, LARGEST = 320, 1600
REPORTED_QUARTERS = (0.25, 0.5, 0.75, 1.0)


def distinct_sizes(count: int, seed: int = 0) -> list[tuple[int, int]]:
    """``count`` different (width, height) pairs, each side from 320 to 1600 pixels."""
    rng, sizes = random.Random(seed), list[tuple[int, int]]()
    while len(sizes) < count:
        size = (rng.randint(SMALLEST, LARGEST), rng.randint(SMALLEST, LARGEST))
        if size not in sizes:
            sizes.append(size)
    return sizes


@dataclasses.dataclass
class ShapeStream:
    count: int
    rss_start_mib: list[float]  # per worker, before the first request
    rss_mib: list[list[float]]  # per request: the workers' resident memory after its answer
    latency_by_canvas: dict[str, list[float]]  # "416x555" -> [seconds]
    # (size, why) of every answer that was not a 200 with boxes in the image
    failures: list[tuple[tuple[int, int], str]]
    high_water_mib: list[float] = dataclasses.field(default_factory=list)  # per worker, at end

    def rss_at(self, share: float) -> list[float]:
        """The workers' memory after ``share`` (0 to 1) of the requests."""
        return self.rss_mib[max(0, round(share * self.count) - 1)]

    @property
    def growth_last_three_quarters_mib(self) -> float:
        """Each worker's growth from a quarter of the way to the end; the largest of them."""
        quarter, last = self.rss_at(0.25), self.rss_mib[-1]
        return max(end - start for start, end in zip(quarter, last, strict=True))

    @property
    def peak_mib(self) -> float:
        """The most any worker held: its high-water mark (a spike inside a forward pass
        included) where the kernel reports it, else the largest reading after an answer."""
        sampled = max(max(sample) for sample in self.rss_mib)
        return max([sampled, *self.high_water_mib])

    def summary(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "rss_start_mib": self.rss_start_mib,
            "rss_mib_at": {str(share): self.rss_at(share) for share in REPORTED_QUARTERS},
            "growth_last_three_quarters_mib": self.growth_last_three_quarters_mib,
            "peak_mib": self.peak_mib,
            "high_water_mib": self.high_water_mib,
            "failures": self.failures,
            "latency_by_canvas": {
                canvas: {"requests": len(seconds), "p50": statistics.median(seconds)}
                for canvas, seconds in sorted(self.latency_by_canvas.items())
            },
        }


def rss_mib(run_dir: str) -> list[float]:
    """The resident memory of each model-server worker of the server run in ``run_dir``."""
    return sorted(worker.memory_info().rss / 2**20 for worker in model_server_workers(run_dir))


def high_water_mib(run_dir: str) -> list[float]:
    """Each worker's peak resident memory since it started (Linux's ``VmHWM``)."""
    peaks = []
    for worker in model_server_workers(run_dir):
        try:
            with open(f"/proc/{worker.pid}/status", encoding="ascii") as status:
                line = next(line for line in status if line.startswith("VmHWM:"))
        except (OSError, StopIteration):
            continue
        peaks.append(int(line.split()[1]) / 1024)  # kB
    return sorted(peaks)


def boxes_inside(answer: dict[str, Any], width: int, height: int) -> bool:
    return all(
        0 <= d["box"]["xmin"] <= d["box"]["xmax"] <= width
        and 0 <= d["box"]["ymin"] <= d["box"]["ymax"] <= height
        for d in answer["detections"]
    )


def stream(
    url: str,
    run_dir: str,
    count: int,
    photo: str | None = None,
    metadata: ModelMetadata | None = None,
    mode: str = preprocess.ASPECT,
    say: Callable[[str], object] = print,
) -> ShapeStream:
    """Send ``count`` JPEGs of distinct sizes to ``url`` (a server's base URL) one by one."""
    source = images.load_photo(photo)
    buckets = metadata.buckets if metadata else preprocess.BUCKETS
    result = ShapeStream(count, rss_mib(run_dir), [], {}, [])
    headers = {
        "Content-Type": "image/jpeg",
        CUSTOM_ATTRIBUTES: f"threshold=0.05,mode={mode}",
    }
    with requests.Session() as session:
        for number, (width, height) in enumerate(distinct_sizes(count), start=1):
            body = images.jpeg(source, (width, height))
            started = time.perf_counter()
            answer = session.post(f"{url}/invocations", data=body, headers=headers, timeout=300)
            elapsed = time.perf_counter() - started
            if answer.status_code != 200:
                result.failures.append(((width, height), f"{answer.status_code} {answer.text}"))
            elif not boxes_inside(answer.json(), width, height):
                result.failures.append(((width, height), "a box outside the image"))
            canvas = preprocess.canvas_shape(height, width, mode, buckets=buckets)
            result.latency_by_canvas.setdefault(f"{canvas[1]}x{canvas[0]}", []).append(elapsed)
            result.rss_mib.append(rss_mib(run_dir))
            if number % max(1, count // 8) == 0 or number == count:
                say(
                    f"    {number}/{count} shapes: worker RSS "
                    + ", ".join(f"{mib:.0f}" for mib in result.rss_mib[-1])
                    + " MiB"
                )
    result.high_water_mib = high_water_mib(run_dir)
    return result
