"""Which server answers a request at the twin, as SageMaker decides among production variants:
by weight, unless the caller names one (TargetVariant); and the copy a shadow variant answers,
sent after the caller has its answer, never delaying or changing it.

Shares follow the weights exactly over every run of requests (smooth weighted round robin,
as load balancers do), and the shadow's copies follow its percentage so too: SageMaker's are
the same on average, so a test of the shares holds here without luck. Copies waiting for a slow
shadow are bounded; beyond the bound a copy is dropped, and said.
"""

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any

from aiohttp import ClientError, web

from container.door.upstream import Answer, Upstream
from inference.headers import INFERENCE_ID
from scripts.lib.doors.capture import CaptureWriter

logger = logging.getLogger("sm-detect.gateway")

MAX_SHADOW_COPIES_IN_FLIGHT = 8


class UnknownVariant(Exception):
    """A TargetVariant the endpoint does not have."""


@dataclasses.dataclass
class Variant:
    name: str
    weight: float
    upstream: Upstream
    credit: float = 0.0  # smooth weighted round robin's running share


class Traffic:
    def __init__(
        self,
        variants: Sequence[tuple[str, float, str]],
        shadow: tuple[str, str] | None = None,
        shadow_percent: int = 100,
        capture: CaptureWriter | None = None,
        timeout: float = 60,
    ) -> None:
        """``variants``: [(name, weight, URL)]; ``shadow``: (name, URL) or None; ``capture``:
        a ``CaptureWriter`` for every answer, production's and the shadow's."""
        self.variants = [Variant(name, weight, Upstream(url)) for name, weight, url in variants]
        self.by_name = {variant.name: variant for variant in self.variants}
        self.shadow = Variant(shadow[0], 0, Upstream(shadow[1])) if shadow else None
        self.shadow_percent = shadow_percent
        self.capture = capture
        self.timeout = timeout
        self.requests = 0
        self.copies = 0
        self.pending: set[asyncio.Task[None]] = set()  # captures and copies under way
        self.copies_in_flight: set[asyncio.Task[None]] = set()

    @classmethod
    def single(cls, url: str, name: str = "AllTraffic") -> "Traffic":
        return cls([(name, 1.0, url)])

    def describe(self) -> str:
        """Where requests go, in words, for the gateway's first log line."""
        if len(self.variants) == 1 and not self.shadow:
            return self.variants[0].upstream.base_url
        total = sum(variant.weight for variant in self.variants)
        parts = [
            f"{v.name} {100 * v.weight / total:.0f}% {v.upstream.base_url}" for v in self.variants
        ]
        if self.shadow:
            parts.append(
                f"shadow {self.shadow.name} a copy of {self.shadow_percent}% "
                f"{self.shadow.upstream.base_url}"
            )
        return ", ".join(parts)

    def attach(self, app: web.Application) -> None:
        for variant in self.variants + ([self.shadow] if self.shadow else []):
            variant.upstream.attach(app)
        app.on_shutdown.append(self.finish_copies)

    def pick(self, target: str | None = None) -> Variant:
        """The variant to answer: the one named, else the next by weight."""
        if target:
            if target not in self.by_name:
                raise UnknownVariant(target)
            return self.by_name[target]
        total = sum(variant.weight for variant in self.variants)
        for variant in self.variants:
            variant.credit += variant.weight
        chosen = max(self.variants, key=lambda variant: variant.credit)
        chosen.credit -= total
        return chosen

    def answered(
        self,
        variant: Variant,
        path: str,
        request: tuple[bytes, str],
        headers: Mapping[str, str],
        answer: Answer,
        latency_seconds: float,
    ) -> None:
        """After production answered: capture it, and send the shadow its copy (both later)."""
        event = (str(uuid.uuid4()), headers.get(INFERENCE_ID))
        self.requests += 1
        if self.capture:
            self.later(self.record(variant.name, event, request, answer, latency_seconds))
        if self.shadow and self.copy_due():
            if len(self.copies_in_flight) >= MAX_SHADOW_COPIES_IN_FLIGHT:
                logger.warning("shadow %s is behind: a copy was dropped", self.shadow.name)
                return
            self.copies_in_flight.add(
                self.later(self.copy(self.shadow, path, request, headers, event))
            )

    def copy_due(self) -> bool:
        """Whether this request is among the shadow's percentage, spread evenly."""
        due = self.requests * self.shadow_percent // 100
        if due > self.copies:
            self.copies = due
            return True
        return False

    def later(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)
        task.add_done_callback(self.copies_in_flight.discard)
        return task

    async def copy(
        self,
        shadow: Variant,
        path: str,
        request: tuple[bytes, str],
        headers: Mapping[str, str],
        event: tuple[str, str | None],
    ) -> None:
        started = time.perf_counter()
        try:
            answer = await shadow.upstream.post(path, request[0], headers, self.timeout)
        except (TimeoutError, ClientError) as error:
            logger.warning("shadow %s did not answer: %r", shadow.name, error)
            return
        if answer.status >= 400:
            logger.warning("shadow %s answered %d", shadow.name, answer.status)
            return
        if self.capture:
            latency = time.perf_counter() - started
            await self.record(shadow.name, event, request, answer, latency)

    async def record(
        self,
        name: str,
        event: tuple[str, str | None],
        request: tuple[bytes, str],
        answer: Answer,
        latency_seconds: float,
    ) -> None:
        """Capture one answer; ``event``: (event id, the caller's inference id or None)."""
        assert self.capture is not None  # only called when answers are captured
        await asyncio.to_thread(
            self.capture.write,
            name,
            event,
            request,
            (answer.body, answer.media_type),
            latency_seconds,
        )

    async def finish_copies(self, _app: web.Application | None = None) -> None:
        """Let copies and captures under way end before the sessions close."""
        if self.pending:
            await asyncio.wait(set(self.pending), timeout=self.timeout)
