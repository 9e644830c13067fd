"""What every door of this project enforces on the clients that knock, trusted or not.

aiohttp's defaults suit a server behind a proxy: an idle connection lives an hour, a body is read
whole before the handler can refuse it, a chunked body may grow until the size limit trips, and
errors the HTTP parser finds (an unknown method, a header too long) answer in plain text and log
a traceback with the header in it. The front door and the signing gateway face clients directly,
so each keeps these limits instead:

- at most ``max_connections`` open connections; the next one gets a 503 and is closed;
- a connection without a complete request for ``idle_seconds`` (idle, or sending its headers
  slowly) is closed;
- a body is read by the handler, after it has checked what it can from the headers, up to
  ``max_body_bytes`` with or without Content-Length (413 beyond), within ``body_seconds`` (408
  beyond), and all bodies being read or held at once share ``max_buffered_bytes`` (503 beyond);
- a body is taken as sent: a ``Content-Encoding`` other than identity is a 415 (images are
  compressed already, and an inflated body would be bigger than the bytes a signature covers);
- every error, the parser's included, answers in the door's own JSON shape, and log lines carry
  neither credentials nor control characters.
"""

import asyncio
import contextlib
import dataclasses
import logging
import re
import ssl
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import ClientPayloadError, web
from aiohttp.web_protocol import RequestHandler

# the door's own error answer: (status, code, message) -> a response
ErrorResponse = Callable[..., web.Response]

logger = logging.getLogger("sm-detect.guard")


@dataclasses.dataclass(frozen=True)
class Limits:
    max_body_bytes: int
    max_connections: int = 256
    idle_seconds: float = 15.0
    body_seconds: float = 60.0
    max_buffered_bytes: int = 0  # 0: four bodies of the largest size

    @property
    def buffered_bytes(self) -> int:
        return self.max_buffered_bytes or 4 * self.max_body_bytes


class Refused(Exception):
    """A request the door refuses before its handler has anything to do with it."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Budget:
    """Bytes of request bodies held in memory at once, across every request of a door."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0

    @contextlib.contextmanager
    def holding(self) -> Iterator["Share"]:
        """A share of the budget for one request, given back when the request is done."""
        share = Share(self)
        try:
            yield share
        finally:
            self.used -= share.size


class Share:
    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.size = 0

    def take(self, size: int) -> None:
        if self.budget.used + size > self.budget.total:
            raise Refused(
                503, "ServiceUnavailable", "the server is busy receiving other requests; retry"
            )
        self.budget.used += size
        self.size += size


async def read_body(request: web.Request, limits: Limits, share: "Share") -> bytes:
    """The request's body as sent, within the limits; ``Refused`` otherwise."""
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise Refused(
            415,
            "UnsupportedContentEncoding",
            f"Content-Encoding {encoding[:40]!r} is not accepted: send the body as it is",
        )
    if request.content_length is not None and request.content_length > limits.max_body_bytes:
        raise too_large(request.content_length, limits)
    chunks, size = [], 0
    try:
        async with asyncio.timeout(limits.body_seconds):
            while chunk := await request.content.readany():
                size += len(chunk)
                if size > limits.max_body_bytes:
                    raise too_large(size, limits)
                share.take(len(chunk))
                chunks.append(chunk)
    except TimeoutError:
        raise Refused(
            408, "RequestTimeout", f"the body did not arrive within {limits.body_seconds:.0f} s"
        ) from None
    except (ClientPayloadError, ConnectionError) as error:
        raise Refused(400, "IncompleteBody", f"the body was cut short: {error}") from None
    return b"".join(chunks)


def too_large(size: int, limits: Limits) -> Refused:
    return Refused(
        413,
        "PayloadTooLarge",
        f"the body has at least {size} bytes, more than the limit of {limits.max_body_bytes}",
    )


class GuardedRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering the parser's errors in the door's shape."""

    __slots__ = ("error_response", "made", "on_closed")
    error_response: Callable[..., web.Response]
    made: bool
    on_closed: Callable[[], None]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made = True
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self.on_closed()

    def closed_unless_made(self) -> None:
        """Count out a TLS connection whose handshake failed: asyncio never tells the handler."""
        if not self.made:
            self.on_closed()

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # one line, no traceback: these are the client's malformed requests
        logger.info(
            "refused a malformed request from %s: %d %s",
            printable(str(request.remote)),
            status,
            printable(mask(str(exc or message or ""))[:200]),
        )
        if request.writer.output_size > 0:
            raise ConnectionError("a response was sent already")
        code = "InternalError" if status >= 500 else "BadRequest"
        text = "the request could not be read" if status < 500 else "the server failed"
        response = self.error_response(status, code, text)
        response.force_close()
        return response


class GuardedSite(web.BaseSite):
    """A TCP site whose connections are capped and handled by ``GuardedRequestHandler``."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        limits: Limits,
        error_response: ErrorResponse,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=128)
        self._host, self._port = host, port
        self.limits = limits
        self.error_response = error_response
        self.open_connections = 0

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self._port}"

    def connection(self) -> asyncio.BaseProtocol:
        # counted here, as each connection is accepted: aiohttp's own list grows only when a
        # connection is set up, after a whole batch of accepted connections has been let in
        if self.open_connections >= self.limits.max_connections:
            return TurnedAway(self.error_response)
        self.open_connections += 1
        server = self._runner.server
        assert server is not None  # a site is started after its runner is set up
        # aiohttp's own handler with its settings (keep-alive, decompression), as web.Server
        # would make it, answering malformed requests in the door's shape
        handler = GuardedRequestHandler(server, loop=asyncio.get_running_loop(), **server._kwargs)
        handler.error_response = self.error_response
        handler.made = False
        handler.on_closed = self.counted_out()
        if self._ssl_context:
            # by then the handshake has succeeded or been given up (``ssl_handshake_timeout``)
            asyncio.get_running_loop().call_later(
                self.limits.idle_seconds + 1, handler.closed_unless_made
            )
        return handler

    def counted_out(self) -> Callable[[], None]:
        """A callable that takes one connection off the count, once however often called."""
        done = False

        def count_out() -> None:
            nonlocal done
            if not done:
                done = True
                self.open_connections -= 1

        return count_out

    async def start(self) -> None:
        await super().start()
        self._server = await asyncio.get_running_loop().create_server(
            self.connection,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=True,
            ssl_handshake_timeout=self.limits.idle_seconds if self._ssl_context else None,
        )


class TurnedAway(asyncio.Protocol):
    """A connection over the cap: one 503 in the door's shape, then closed."""

    def __init__(self, error_response: ErrorResponse) -> None:
        self.error_response = error_response

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)  # a TCP connection's
        response = self.error_response(503, "ServiceUnavailable", "too many connections; retry")
        body = response.body
        assert isinstance(body, bytes)  # the door's error answers are JSON bytes
        head = (
            f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: {response.content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        transport.write(head.encode() + body)
        transport.close()

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        pass


def runner(app: web.Application, limits: Limits) -> web.AppRunner:
    """An AppRunner with the limits aiohttp can keep itself."""
    return web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=1.0,
        # aiohttp closes a connection still waiting for a complete request after this long
        keepalive_timeout=limits.idle_seconds,
        auto_decompress=False,
    )


CREDENTIALS = re.compile(
    r"(?i)(credential=|signature=|x-amz-security-token[\"']?\s*[:=]\s*[\"']?|"
    r"authorization[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?|x-api-key[\"']?\s*[:=]\s*[\"']?)"
    r"([^\s,\"'&]+)"
)
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def mask(text: str) -> str:
    """``text`` with credentials, signatures and tokens replaced by ``***``."""
    return CREDENTIALS.sub(lambda found: found[1] + "***", text)


def printable(text: str) -> str:
    """``text`` with control characters escaped, so that a value cannot forge a log line."""
    return CONTROL.sub(lambda found: found[0].encode("unicode_escape").decode("ascii"), text)


class SafeLogs(logging.Filter):
    """Masks credentials and escapes control characters in the records it sees.

    On aiohttp's loggers it also drops tracebacks: there they come from clients' broken
    connections and malformed requests, one line each is enough.
    """

    def __init__(self, drop_tracebacks: bool = False) -> None:
        super().__init__()
        self.drop_tracebacks = drop_tracebacks

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        safe = printable(mask(message))
        if safe != message:
            record.msg, record.args = safe, None
        if self.drop_tracebacks:
            record.exc_info = record.exc_text = None
        return True


def protect_logs() -> None:
    """Install ``SafeLogs`` on aiohttp's loggers and on the root logger's handlers."""
    for name in ("aiohttp.server", "aiohttp.web", "aiohttp.access", "aiohttp.internal"):
        logging.getLogger(name).addFilter(SafeLogs(drop_tracebacks=True))
    for handler in logging.getLogger().handlers:
        handler.addFilter(SafeLogs())
