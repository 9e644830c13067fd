"""The server behind a door: one client session, a request forwarded, the answer read whole.

The front door forwards to multi-model-server over its Unix sockets; the signing gateway and the
public API's twin forward to a server's ``/invocations`` over HTTP. Failures (``TimeoutError``,
``aiohttp.ClientError``) reach the door, which answers them in its own error shape.
"""

import dataclasses
from collections.abc import Mapping

from aiohttp import ClientSession, ClientTimeout, UnixConnector, web
from multidict import CIMultiDict


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    media_type: str
    headers: CIMultiDict = dataclasses.field(default_factory=CIMultiDict)


class Upstream:
    """``base_url`` (e.g. ``http://127.0.0.1:8080``), reached through ``unix_socket`` if given."""

    def __init__(self, base_url: str, unix_socket: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.unix_socket = unix_socket
        self.session: ClientSession | None = None

    def attach(self, app: web.Application) -> None:
        """Open the session when ``app`` starts, close it when it stops."""
        app.on_startup.append(self.open)
        app.on_cleanup.append(self.close)

    async def open(self, _app: web.Application | None = None) -> None:
        connector = UnixConnector(path=self.unix_socket, limit=0) if self.unix_socket else None
        # bodies are passed on as they are: never inflate what the server sent
        self.session = ClientSession(connector=connector, auto_decompress=False)

    async def close(self, _app: web.Application | None = None) -> None:
        if self.session:
            await self.session.close()

    @property
    def opened(self) -> ClientSession:
        """The session; ``attach`` opens it when the application starts."""
        if self.session is None:
            raise RuntimeError("the upstream's session is not open: attach it to the app")
        return self.session

    async def post(
        self, path: str, body: bytes, headers: Mapping[str, str], timeout_seconds: float
    ) -> Answer:
        timeout = ClientTimeout(total=timeout_seconds)
        async with self.opened.post(
            self.base_url + path, data=body, headers=headers, timeout=timeout
        ) as answer:
            return Answer(
                answer.status,
                await answer.read(),
                answer.headers.get("Content-Type", "application/octet-stream"),
                CIMultiDict(answer.headers),
            )

    async def get(self, path: str, timeout_seconds: float) -> Answer:
        timeout = ClientTimeout(total=timeout_seconds)
        async with self.opened.get(self.base_url + path, timeout=timeout) as answer:
            return Answer(
                answer.status,
                await answer.read(),
                answer.headers.get("Content-Type", "application/octet-stream"),
                CIMultiDict(answer.headers),
            )

    async def get_json(self, path: str, timeout_seconds: float) -> tuple[int, object]:
        """(status, the decoded JSON body, or None when it is not JSON)."""
        return await self.call("GET", path, timeout_seconds)

    async def call(
        self,
        method: str,
        path: str,
        timeout_seconds: float,
        params: Mapping[str, str] | None = None,
    ) -> tuple[int, object]:
        """``method`` on ``path`` with query ``params``: (status, the decoded JSON body, or None
        when it is not JSON)."""
        timeout = ClientTimeout(total=timeout_seconds)
        async with self.opened.request(
            method, self.base_url + path, params=params, timeout=timeout
        ) as answer:
            try:
                return answer.status, await answer.json(content_type=None)
            except ValueError:
                return answer.status, None
