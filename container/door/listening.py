"""Start an aiohttp application behind the guard's limits, and say where it listens.

Port 0 lets the kernel choose a free port as it binds, so nothing can take the port between
choosing and binding (as it can a port probed free beforehand). The line ``listening on URL``
says which port it chose, for people and for the programs that start the server.
"""

import asyncio
import signal
import ssl
from collections.abc import Callable

from aiohttp import web

from container.door import guard
from container.door.guard import ErrorResponse

ANNOUNCEMENT = "listening on {url}"
URL_PATTERN = r"(?P<scheme>https?)://(?:\[[^\]]*\]|[^\s:/\[]+):(?P<port>\d+)"
ANNOUNCEMENT_PATTERN = "listening on " + URL_PATTERN
# a server that is bound but not yet ready to answer (the model server still loading) says so
BOUND = "bound {url}"
BOUND_PATTERN = "bound " + URL_PATTERN


async def listen(
    runner: web.AppRunner,
    host: str,
    port: int,
    limits: guard.Limits,
    error_response: ErrorResponse,
    ssl_context: ssl.SSLContext | None = None,
) -> str:
    """Bind ``runner`` (set up) on ``host:port``; returns the URL it listens on.

    ``error_response(status, code, message)`` answers what the guard refuses, in the door's
    own error shape.
    """
    site = guard.GuardedSite(runner, host, port, limits, error_response, ssl_context)
    await site.start()
    bound_host, bound_port = runner.addresses[-1][:2]
    scheme = "https" if ssl_context else "http"
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return f"{scheme}://{shown}:{bound_port}"


async def serve_until_stopped(
    app: web.Application,
    host: str,
    port: int,
    limits: guard.Limits,
    error_response: ErrorResponse,
    ssl_context: ssl.SSLContext | None = None,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve ``app`` until SIGTERM or SIGINT; ``on_listening(url)`` once it is bound."""
    runner = guard.runner(app, limits)
    await runner.setup()
    try:
        url = await listen(runner, host, port, limits, error_response, ssl_context)
        if on_listening:
            on_listening(url)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop_signal, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
