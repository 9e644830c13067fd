"""Answers in the project's error shape, ``{"error": {"code", "message"}}``, as aiohttp responses.

The front door, the public API's twin and the demo page's server answer their refusals this way;
the signing gateway answers in AWS's shape instead (``scripts.lib.doors.gateway.aws_error``).
"""

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from container.door import guard
from inference.errors import error_document

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(error_document(code, message), status=status, headers=headers)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error the door raises (aiohttp's 404, 405, ... and the guard's) in our shape."""
    try:
        return await handler(request)
    except guard.Refused as refused:
        return error_response(refused.status, refused.code, refused.message)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = error.reason.replace(" ", "")
        return error_response(error.status, code, error.text or error.reason)
